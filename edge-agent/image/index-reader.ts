import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { promisify } from 'node:util';
import { createGunzip, gunzip as gunzipCallback } from 'node:zlib';
import { CairnError } from '#core/errors.ts';
import { IndexEntry } from '#core/model/task.ts';
import { readAll, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeIssues } from '#core/validation.ts';
import type { IndexChunk } from './index-chunks.ts';

const gunzip = promisify(gunzipCallback);

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

/**
 * The lines of one chunk of a chunked index (index-chunks.ts), read by
 * range: its stored bytes must have the chunk's length and sha256 (the
 * chunk table's, which the catalog vouches for) before they are
 * decompressed, and hold the chunk's number of lines, from its first path
 * to its last. Rejects like `readIndex`; messages name the chunk by its
 * number (1-based) and bytes.
 */
export async function readIndexChunk(store: ObjectStore, key: string, chunk: IndexChunk, number: number): Promise<IndexEntry[]> {
  const where = `index ${key} chunk ${number} (bytes ${chunk.offset}-${chunk.offset + chunk.bytes})`;
  let stored: Buffer;
  try {
    stored = await readAll(await store.get(key, { start: chunk.offset, end: chunk.offset + chunk.bytes }));
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (stored.byteLength !== chunk.bytes) throw new CairnError(StatusCode.CORRUPT_IMAGE, `${where} is truncated: ${stored.byteLength} of ${chunk.bytes} bytes`);
  const actual = createHash('sha256').update(stored).digest('hex');
  if (actual !== chunk.sha256) throw new CairnError(StatusCode.CORRUPT_IMAGE, `${where} has sha256 ${actual}, expected ${chunk.sha256} (the chunk table's, vouched for by the catalog)`);
  let text: string;
  try {
    text = (await gunzip(stored)).toString('utf8');
  } catch (error) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `${where} cannot be decompressed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const entries = lines.map((line, i) => parseLine(line, i + 1, `${key} chunk ${number}`));
  if (entries.length !== chunk.entries || entries[0]?.path !== chunk.first || entries.at(-1)?.path !== chunk.last) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `${where} holds ${entries.length} lines from ${JSON.stringify(entries[0]?.path)} to ${JSON.stringify(entries.at(-1)?.path)}; its table entry says ${chunk.entries} from ${JSON.stringify(chunk.first)} to ${JSON.stringify(chunk.last)}`);
  }
  return entries;
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
