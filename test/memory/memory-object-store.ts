import { NotFoundError, ValidationError } from '#core/errors.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import {
  assertByteRange,
  assertFolderPrefix,
  assertKeyPrefix,
  assertObjectKey,
  type IncompleteWrite,
  type ObjectBody,
  type ObjectStore,
} from '#core/ports/object-store.ts';
import { io } from './copy.ts';

/** A put in flight: what it has stored so far, and why it must fail when `deletePrefix` took it away. */
interface Upload {
  key: string;
  bytes: number;
  aborted?: Error;
}

/** How `get` hands an object back: in pieces, as a file or S3 stream does. */
const READ_CHUNK = 64 * 1024;

/**
 * ObjectStore in memory, for tests and benchmarks only (see README.md).
 *
 * `put` copies each chunk as it arrives (callers may refill it) into a
 * private upload, and the object appears whole only when the body ended: a
 * failed body, or a `deletePrefix` meanwhile, leaves nothing. Unlike S3 it
 * refuses a key that is also a folder of other keys (`a` and `a/b`), as a
 * file system must, so tests find code that relies on it.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly #objects = new Map<string, Buffer>();
  readonly #uploads = new Set<Upload>();

  async put(key: string, body: ObjectBody): Promise<{ bytes: number }> {
    assertObjectKey(key);
    this.#assertNotFolderClash(key);
    const upload: Upload = { key, bytes: 0 };
    this.#uploads.add(upload);
    try {
      const parts: Buffer[] = [];
      const chunks = body instanceof Uint8Array ? [body] : body;
      for await (const chunk of chunks) {
        if (upload.aborted) throw upload.aborted;
        parts.push(Buffer.from(chunk));
        upload.bytes += chunk.byteLength;
      }
      await io();
      if (upload.aborted) throw upload.aborted;
      this.#assertNotFolderClash(key);
      this.#objects.set(key, Buffer.concat(parts));
      return { bytes: upload.bytes };
    } finally {
      this.#uploads.delete(upload);
    }
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<AsyncIterable<Uint8Array>> {
    assertObjectKey(key);
    if (range !== undefined) assertByteRange(range);
    await io();
    const data = this.#objects.get(key);
    if (data === undefined) throw new NotFoundError('object', key);
    const start = Math.min(range?.start ?? 0, data.length);
    const end = Math.max(start, Math.min(range?.end ?? data.length, data.length));
    return pieces(Buffer.from(data.subarray(start, end)));
  }

  async head(key: string): Promise<{ bytes: number } | undefined> {
    assertObjectKey(key);
    await io();
    const data = this.#objects.get(key);
    return data === undefined ? undefined : { bytes: data.length };
  }

  async list(prefix: string): Promise<string[]> {
    assertKeyPrefix(prefix);
    await io();
    return [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort(byCodePoint);
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    await io();
    this.#objects.delete(key);
  }

  async listIncomplete(prefix: string): Promise<IncompleteWrite[]> {
    assertKeyPrefix(prefix);
    await io();
    return [...this.#uploads].filter((u) => u.key.startsWith(prefix)).map((u) => ({ key: u.key, bytes: u.bytes }));
  }

  async deletePrefix(prefix: string): Promise<{ objects: number; incomplete: number; bytes: number }> {
    assertFolderPrefix(prefix);
    await io();
    let objects = 0;
    let bytes = 0;
    for (const [key, data] of this.#objects) {
      if (!key.startsWith(prefix)) continue;
      this.#objects.delete(key);
      objects += 1;
      bytes += data.length;
    }
    let incomplete = 0;
    for (const upload of this.#uploads) {
      if (!upload.key.startsWith(prefix)) continue;
      upload.aborted = new Error(`the write of ${upload.key} was removed by deletePrefix(${prefix})`);
      this.#uploads.delete(upload);
      incomplete += 1;
      bytes += upload.bytes;
    }
    return { objects, incomplete, bytes };
  }

  #assertNotFolderClash(key: string): void {
    const parents = key.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    const clash = parents.find((p) => this.#objects.has(p)) ?? [...this.#objects.keys()].find((k) => k.startsWith(`${key}/`));
    if (clash !== undefined) throw new ValidationError('invalid object key', [`${JSON.stringify(key)}: ${JSON.stringify(clash)} exists, and a key cannot also be a folder of keys`]);
  }
}

async function* pieces(data: Buffer): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += READ_CHUNK) yield data.subarray(offset, offset + READ_CHUNK);
}
