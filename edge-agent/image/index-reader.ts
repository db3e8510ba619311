import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { CairnError } from '#core/errors.ts';
import { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeIssues } from '#core/validation.ts';

/**
 * Streams an image's file index (index.ndjson.gz) entry by entry, in walk
 * order, holding one decompressed chunk at a time.
 *
 * The sha256 of the stored bytes is checked against `expectedSha256` when the
 * end is reached, so a consumer that reads to the end has read a verified
 * index. Rejects with CORRUPT_IMAGE (2001) for a bad checksum, bad gzip or a
 * line that is not an IndexEntry, and MEDIA_READ_ERROR (85) when the store
 * fails.
 */
export async function* readIndex(store: ObjectStore, key: string, expectedSha256: string): AsyncGenerator<IndexEntry, void, undefined> {
  const hash = createHash('sha256');
  const body = await store.get(key);
  const gunzip = pipeline(Readable.from(hashedSource(body, hash, key)), createGunzip(), () => undefined);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const lines = (rest + decoder.write(chunk)).split('\n');
      rest = lines.pop() ?? '';
      for (const text of lines) yield parseLine(text, (line += 1), key);
    }
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `index ${key} cannot be decompressed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  rest += decoder.end();
  if (rest.length > 0) yield parseLine(rest, line + 1, key);
  const actual = hash.digest('hex');
  if (actual !== expectedSha256) throw new CairnError(StatusCode.CORRUPT_IMAGE, `index ${key} has sha256 ${actual}, expected ${expectedSha256} (the catalog's)`);
}

function parseLine(text: string, line: number, key: string): IndexEntry {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `index ${key} line ${line} is not JSON`, { cause: error });
  }
  const parsed = IndexEntry.safeParse(json);
  if (!parsed.success) throw new CairnError(StatusCode.CORRUPT_IMAGE, `index ${key} line ${line} is not an index entry`, { cause: parsed.error, details: describeIssues(parsed.error) });
  return parsed.data;
}

async function* hashedSource(body: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>, key: string): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      yield chunk;
    }
  } catch (error) {
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read index ${key}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
