import { ValidationError } from '../errors.ts';

export type ObjectBody = AsyncIterable<Uint8Array> | Uint8Array;

/**
 * Where image fragments, file indexes and manifests are kept: a directory of
 * a disk storage unit or an S3 prefix.
 *
 * - `put` is atomic: readers see the whole new object or none of it, never a
 *   partial one, even when the body stream fails half-way (then `put` rejects
 *   and nothing is left behind).
 * - `put` consumes each chunk before it asks for the next and keeps no
 *   reference to it afterwards, so callers may reuse buffers.
 * - `get` of a missing key rejects with NotFoundError; `range.end` is exclusive.
 *   A range is whole, non-negative byte offsets (ValidationError otherwise);
 *   one that starts at or after the end of the object, or ends before it
 *   starts, reads nothing.
 * - `list` returns keys in code point order (= UTF-8 byte order, what S3
 *   lists in; `byCodePoint`), whatever the backing.
 * - A key is never also the folder of other keys (`a` and `a/b`); a file
 *   system cannot hold both, so no caller may rely on it.
 * - `delete` is idempotent.
 * - `deletePrefix` removes a whole staged image: every object under a
 *   folder prefix and every incomplete write there (a partial file left by
 *   a killed process, an unfinished multipart upload). Idempotent. A `put`
 *   still running under the prefix may fail; it leaves nothing behind.
 */
export interface ObjectStore {
  put(key: string, body: ObjectBody): Promise<{ bytes: number }>;
  get(key: string, range?: { start: number; end?: number }): Promise<AsyncIterable<Uint8Array>>;
  head(key: string): Promise<{ bytes: number } | undefined>;
  /** Keys under `prefix` (empty, or a key or folder prefix), in code point order. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Writes under `prefix` that never completed, by the key they were for:
   * a put in flight, or one a dead process left. `list` never shows them.
   */
  listIncomplete(prefix: string): Promise<IncompleteWrite[]>;
  /** Removes everything under a folder prefix (`images/c1/c1_1795400000/`): objects and incomplete writes. */
  deletePrefix(prefix: string): Promise<{ objects: number; incomplete: number; bytes: number }>;
}

export interface IncompleteWrite {
  key: string;
  /** Bytes stored so far, where the backing can tell. */
  bytes?: number;
}

/** A folder prefix: relative, `/`-separated, ending in `/`, without empty, `.` or `..` segments. */
export function assertFolderPrefix(prefix: string): void {
  if (!prefix.endsWith('/')) throw new ValidationError('invalid folder prefix', [`${JSON.stringify(prefix)}: a folder prefix ends in "/"`]);
  assertObjectKey(prefix.slice(0, -1));
}

/** Keys are relative, `/`-separated, with no empty, `.` or `..` segments. */
export function assertObjectKey(key: string): void {
  const bad = key.length === 0 || key.startsWith('/') || key.includes('\\') || key.includes('\0') || key.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new ValidationError('invalid object key', [`${JSON.stringify(key)}: keys are relative paths without empty, "." or ".." segments`]);
}

export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A list prefix: empty, or relative and `/`-separated without empty, `.` or `..` segments (it may end in `/`). */
export function assertKeyPrefix(prefix: string): void {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (prefix === '') return;
  if (trimmed === '') throw new ValidationError('invalid key prefix', [`${JSON.stringify(prefix)}: prefixes are relative paths without empty, "." or ".." segments`]);
  try {
    assertObjectKey(trimmed);
  } catch {
    throw new ValidationError('invalid key prefix', [`${JSON.stringify(prefix)}: prefixes are relative paths without empty, "." or ".." segments`]);
  }
}

/** A byte range of `get`: whole, non-negative offsets; `end` (exclusive) may be before `start` and then reads nothing. */
export function assertByteRange(range: { start: number; end?: number }): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(range.start) || range.start < 0) problems.push(`start: ${range.start} is not a byte offset`);
  if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < 0)) problems.push(`end: ${range.end} is not a byte offset`);
  if (problems.length > 0) throw new ValidationError('invalid byte range', problems);
}
