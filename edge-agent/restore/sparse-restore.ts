import { createHash } from 'node:crypto';
import { open, type FileHandle } from './fs-names.ts';
import { hashZeros } from '../image/block-map.ts';
import { readSparseMap, realMemberSize, sparseVersionProblem, SparseMapError } from '../image/sparse-member.ts';

/** Writes the base version of a block-diff file into the (empty) file being restored: its content in the image its unchanged blocks are in. */
export type BaseContent = (target: FileHandle) => Promise<void>;

type SparseHeader = { name: string; size?: number | null; pax?: unknown };

/**
 * Writes a sparse member's segments at their offsets in `handle` (what lies
 * between stays as it is: a hole in a new file, the base's blocks in a
 * block diff) and sets the file to its real size. `onData` sees each
 * segment's bytes with its offset, in order. Rejects with SparseMapError
 * when the member is not a sparse member this reader knows or its map or
 * data are malformed.
 */
export async function writeSparseData(data: AsyncIterable<Uint8Array>, header: SparseHeader, handle: FileHandle, onData?: (chunk: Uint8Array, offset: number) => void): Promise<number> {
  const version = sparseVersionProblem(header);
  if (version !== undefined) throw new SparseMapError(version);
  const realSize = realMemberSize(header);
  if (!Number.isSafeInteger(realSize)) throw new SparseMapError('the sparse member has no valid GNU.sparse.realsize');
  const iterator = data[Symbol.asyncIterator]();
  const { segments, rest } = await readSparseMap(iterator, realSize);
  let pending: Buffer = rest;
  for (const segment of segments) {
    let written = 0;
    while (written < segment.length) {
      if (pending.byteLength === 0) {
        const next = await iterator.next();
        if (next.done) throw new SparseMapError(`the member ends inside sparse segment ${segment.offset}+${segment.length}`);
        pending = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      }
      const piece = pending.subarray(0, Math.min(pending.byteLength, segment.length - written));
      pending = pending.subarray(piece.byteLength);
      onData?.(piece, segment.offset + written);
      await writeAt(handle, piece, segment.offset + written);
      written += piece.byteLength;
    }
  }
  // Anything after the last segment is tar padding, never file data.
  for (let next = await iterator.next(); !next.done; next = await iterator.next());
  await handle.truncate(realSize);
  return realSize;
}

/**
 * Restores a sparse member into the fresh temporary file `handle` (at
 * `tempPath`): the base version first for a block diff, then the member's
 * segments. Returns the file's size and the sha256 of its whole content,
 * which the caller checks before the file is put in place: for a plain
 * sparse member hashed as it is written (holes as zeros), for a block diff
 * read back once assembled, since its bytes come from several images.
 */
export async function restoreSparseMember(data: AsyncIterable<Uint8Array>, header: SparseHeader, handle: FileHandle, tempPath: string, base: BaseContent | undefined): Promise<{ bytes: number; sha256: string }> {
  if (base) {
    await base(handle);
    const bytes = await writeSparseData(data, header, handle);
    return { bytes, sha256: await sha256Of(tempPath) };
  }
  const hash = createHash('sha256');
  let end = 0;
  const bytes = await writeSparseData(data, header, handle, (chunk, offset) => {
    hashZeros(hash, offset - end);
    hash.update(chunk);
    end = offset + chunk.byteLength;
  });
  hashZeros(hash, bytes - end);
  return { bytes, sha256: hash.digest('hex') };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

export async function writeAt(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) offset += (await handle.write(chunk, offset, chunk.byteLength - offset, position + offset)).bytesWritten;
}
