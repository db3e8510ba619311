import { createHash } from 'node:crypto';
import { closeSync, fstatSync, read as readCallback, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import { describeFsError } from '../reader/fs-errors.ts';
import { openWalkedFile } from '../reader/file-reader.ts';
import type { BlockHasher } from '../reader/reader-thread.ts';
import type { BusyMeter } from '../transport/busy-meter.ts';
import { recycleAfterCopy } from '../transport/chunk-recycling.ts';
import { BLOCK_BYTES, HASH_BYTES, ZERO_BLOCK_SHA256, blockCount, blockSha256, isZeroBlock } from './block-map.ts';
import type { ContentWriter, FragmentWriter, MemberPlace } from './fragment-writer.ts';
import { encodeSparseMap, sparseHeader, type Segment } from './sparse-member.ts';
import type { MemberSpec } from './tar-member.ts';
import { addFileMember } from './piece-member.ts';
import type { FilePieces } from '#core/model/task.ts';

const readFd = promisify(readCallback);

/** Reads go in whole blocks, this many at a time. */
const READ_BYTES = 16 * BLOCK_BYTES;
/** Fresh read buffers given back by the pool (see `chunks`) kept for later reads. */
const MAX_SPARE_READS = 4;
/**
 * The changed blocks of a diff are held in memory from the one read that
 * hashes them to the member that stores them, so what is stored is exactly
 * what was hashed even if the file changes meanwhile. Past this (or past half
 * the file) the file is stored whole instead.
 */
export const MAX_DIFF_BYTES = 32 * 1024 * 1024;

export interface LargeFileInput {
  sourcePath: string;
  walked: BigIntStats;
  /** The member spec for the file as opened (its size is what the member holds). */
  spec: (stats: BigIntStats) => MemberSpec;
  fragments: FragmentWriter;
  /**
   * Member data above this is stored as pieces (piece-member.ts). Pieces
   * are plain members: a sparse member (holes, block diff) whose data would
   * be above it is not made, and the file is stored whole instead.
   */
  pieceBytes: number;
  /** The file's version in the base image: the image holding its data and its verified block map. */
  base?: { backupId: string; map: Buffer };
  signal?: AbortSignal;
  meters: { read: BusyMeter; hash: BusyMeter };
  /**
   * A new whole-content and block hasher (BLOCK_BYTES blocks): the reader
   * thread's, so hashing every byte twice (whole file and blocks, holes
   * included) stays off the main thread, which only reads and writes.
   */
  hasher: () => BlockHasher;
}

export interface LargeFileResult {
  place: MemberPlace;
  /** Set when the file was stored as pieces: the index's `pieces`. */
  pieces?: FilePieces[];
  spec: MemberSpec;
  stats: BigIntStats;
  /** Of the whole file content, as a restore reassembles it. */
  sha256: string;
  /** The file's block map: one sha256 a block. */
  hashes: Buffer;
  /** Set when the member holds only changed blocks: the others are in this image's version of the file. */
  unchangedBlocksIn?: string;
  /** Member data bytes stored (map and segments, or the whole file). */
  storedBytes: number;
  /** The file changed or failed to read while being stored; what is stored is consistent with `sha256`. */
  problem?: string;
  /** Set with `problem` when the file changed while it was read (not a read failure): the copy may be torn (see CopyResult.changed). */
  changed?: true;
}

/**
 * Stores one large file (see block-map.ts) in the image, as
 * - a block diff against its base version when the base has a block map
 *   and few blocks changed: a sparse member whose holes are the unchanged
 *   blocks (`unchangedBlocksIn` names the image they are in);
 * - otherwise, when the file has holes on disk (st_blocks below its size, GNU
 *   tar's test), a sparse member whose holes are its all-zero blocks;
 * - otherwise a plain member.
 * Every way hashes exactly the bytes the member holds (holes as zeros, or
 * the base's blocks), so the whole-file sha256 verifies what a restore
 * reassembles. Rejects with UnreadableFileError when the file cannot be opened.
 */
export async function packLargeFile(input: LargeFileInput): Promise<LargeFileResult> {
  const { fd, stats } = await openWalkedFile(input.sourcePath, input.walked);
  try {
    const reader = new BlockReader(fd, Number(stats.size), input.meters.read);
    const spec = input.spec(stats);
    let result: Omit<LargeFileResult, 'place' | 'spec' | 'stats'> & { place: MemberPlace } | undefined;
    if (input.base) result = await storeDiff(input, reader, spec, input.base);
    if (!result && Number(stats.blocks) * 512 < spec.size) result = await storeSparse(input, reader, spec);
    // Only a member of one piece may be sparse; a file stored in pieces is read whole (its holes as zeros).
    result ??= await storePlain(input, reader, spec);
    const since = reader.problem === undefined ? changedSince(fd, stats) : undefined;
    const problem = reader.problem ?? since;
    const changed = since !== undefined || reader.changed;
    return { ...result, spec, stats, ...(problem ? { problem } : {}), ...(problem && changed ? { changed: true as const } : {}) };
  } finally {
    closeSync(fd);
  }
}

async function storeDiff(input: LargeFileInput, reader: BlockReader, spec: MemberSpec, base: { backupId: string; map: Buffer }) {
  const count = blockCount(spec.size);
  const baseCount = base.map.byteLength / HASH_BYTES;
  const hashes = Buffer.alloc(count * HASH_BYTES);
  const whole = input.hasher();
  const changed: Array<{ index: number; data: Buffer }> = [];
  let changedBytes = 0;
  // A diff is one sparse member, never pieced: one that would not fit in a piece is stored whole (in pieces) instead.
  const limit = Math.min(MAX_DIFF_BYTES, spec.size / 2, input.pieceBytes - SPARSE_MAP_ALLOWANCE);
  let sha256: string;
  const compare = (position: number, chunk: Buffer, blockHashes: Buffer): boolean => {
    for (let at = 0, k = 0; at < chunk.byteLength; at += BLOCK_BYTES, k++) {
      const index = (position + at) / BLOCK_BYTES;
      const hash = blockHashes.subarray(k * HASH_BYTES, (k + 1) * HASH_BYTES);
      hash.copy(hashes, index * HASH_BYTES);
      if (index < baseCount && hash.equals(base.map.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES))) continue;
      const block = chunk.subarray(at, at + BLOCK_BYTES);
      changed.push({ index, data: Buffer.from(block) });
      changedBytes += block.byteLength;
    }
    // Too much changed: storing the whole file costs no more and starts a fresh chain.
    return changedBytes <= limit;
  };
  // The two hashes of every byte are split between the threads: the reader thread takes the whole-file sha256
  // (`feed`) while this thread, idle otherwise until the diff is known, hashes the chunk's blocks and compares them.
  // One chunk's feed is awaited before the next is sent, so at most two copies wait on the thread.
  let previous: Promise<void> | undefined;
  try {
    for await (const { position, chunk } of reader.chunks(0, spec.size, false)) {
      input.signal?.throwIfAborted();
      const fed = whole.feed(chunk);
      fed.catch(() => undefined); // awaited in turn; a failure before then must not leave it unhandled
      const started = performance.now();
      const blockHashes = hashBlocks(chunk);
      input.meters.hash.add(performance.now() - started);
      if (!compare(position, chunk, blockHashes)) return undefined;
      await previous;
      previous = fed;
    }
    await previous;
    sha256 = await whole.digest();
  } finally {
    whole.dispose();
  }
  const segments: Segment[] = [];
  for (const { index, data } of changed) {
    const last = segments.at(-1);
    if (last && last.offset + last.length === index * BLOCK_BYTES) last.length += data.byteLength;
    else segments.push({ offset: index * BLOCK_BYTES, length: data.byteLength });
  }
  const map = encodeSparseMap(segments, spec.size);
  if (map.byteLength + changedBytes > input.pieceBytes) return undefined;
  const place = await input.fragments.add(sparseHeader(spec, segments, map.byteLength), async (write) => {
    // The fragment checksum takes the member's data (map and segments) by its sha256: a few changed blocks, hashed once more.
    const member = hashedWriter(write);
    await member.pass(map);
    for (const { data } of changed) await member.pass(data);
    return { sha256: member.digest() };
  });
  return { place, sha256, hashes, unchangedBlocksIn: base.backupId, storedBytes: map.byteLength + changedBytes };
}

async function storeSparse(input: LargeFileInput, reader: BlockReader, spec: MemberSpec) {
  // First pass: which blocks hold data. Comparing with zeros costs far less than hashing.
  const count = blockCount(spec.size);
  const data = new Uint8Array(count);
  for await (const { position, chunk } of reader.chunks(0, spec.size, false)) {
    input.signal?.throwIfAborted();
    for (let at = 0; at < chunk.byteLength; at += BLOCK_BYTES) if (!isZeroBlock(chunk.subarray(at, at + BLOCK_BYTES))) data[(position + at) / BLOCK_BYTES] = 1;
  }
  const segments: Segment[] = [];
  for (let index = 0; index < count; index++) {
    if (!data[index]) continue;
    const length = Math.min(BLOCK_BYTES, spec.size - index * BLOCK_BYTES);
    const last = segments.at(-1);
    if (last && last.offset + last.length === index * BLOCK_BYTES) last.length += length;
    else segments.push({ offset: index * BLOCK_BYTES, length });
  }
  // Sparse members are not pieced: one whose data would be above a piece is stored whole (in pieces), holes as zeros.
  if (encodedSparseBytes(segments, spec.size) > input.pieceBytes) return undefined;
  // Second pass: the data blocks only. Holes are hashed as the zeros a restore gives back.
  const hashes = Buffer.alloc(count * HASH_BYTES);
  const whole = input.hasher();
  const map = encodeSparseMap(segments, spec.size);
  let end = 0;
  const holeTo = (offset: number): void => {
    whole.zeros(offset - end);
    for (let index = end / BLOCK_BYTES; index * BLOCK_BYTES < offset; index++) {
      const length = Math.min(BLOCK_BYTES, spec.size - index * BLOCK_BYTES);
      (length === BLOCK_BYTES ? ZERO_BLOCK_SHA256 : blockSha256(Buffer.alloc(length))).copy(hashes, index * HASH_BYTES);
    }
    end = offset;
  };
  try {
    const place = await input.fragments.add(sparseHeader(spec, segments, map.byteLength), async (write) => {
      // The fragment checksum takes the member's data (map and data blocks, not the file with its holes) by its sha256.
      const member = hashedWriter(write);
      const pass = member.pass;
      await pass(map);
      for (const segment of segments) {
        holeTo(segment.offset);
        await copyBlocks(input, reader, segment.offset, segment.offset + segment.length, whole, hashes, pass);
        end = segment.offset + segment.length;
      }
      holeTo(spec.size);
      return { sha256: member.digest() };
    });
    return { place, sha256: await whole.digest(), hashes, storedBytes: map.byteLength + segments.reduce((sum, s) => sum + s.length, 0) };
  } finally {
    whole.dispose();
  }
}

async function storePlain(input: LargeFileInput, reader: BlockReader, spec: MemberSpec) {
  const hashes = Buffer.alloc(blockCount(spec.size) * HASH_BYTES);
  const whole = input.hasher();
  try {
    // A whole member's data is the file: its sha256 is also what the fragment checksum takes (pieces are hashed by the fragment writer).
    // A file stored in pieces is hashed a third time here (each piece, by the fragment writer), so its blocks go to the thread.
    const blocksOnThread = spec.size > input.pieceBytes;
    const place = await addFileMember(input.fragments, spec, input.pieceBytes, async (write) => {
      await copyBlocks(input, reader, 0, spec.size, whole, hashes, write, blocksOnThread);
      return { sha256: await whole.digest() };
    });
    return { place, ...(place.pieces ? { pieces: place.pieces } : {}), sha256: place.result.sha256, hashes, storedBytes: spec.size };
  } finally {
    whole.dispose();
  }
}

/**
 * Copies the blocks in [from, to) (block-aligned `from`) to the member,
 * hashing them whole on the hasher's thread and block by block, here while
 * they are written or, with `blocksOnThread` (this thread hashes the bytes
 * once more for pieces), there too; at most two chunks' copies wait there,
 * so memory stays bounded.
 */
async function copyBlocks(input: LargeFileInput, reader: BlockReader, from: number, to: number, whole: BlockHasher, hashes: Buffer, write: ContentWriter, blocksOnThread = false): Promise<void> {
  let previous: Promise<void> | undefined;
  for await (const { position, chunk } of reader.chunks(from, to, true)) {
    input.signal?.throwIfAborted();
    const at = (position / BLOCK_BYTES) * HASH_BYTES;
    let hashed: Promise<void>;
    if (blocksOnThread) {
      hashed = whole.chunk(chunk).then((blockHashes) => void blockHashes.copy(hashes, at));
    } else {
      // The whole-file sha256 on the reader thread, the blocks' here (as in storeDiff): each thread hashes every byte once.
      hashed = whole.feed(chunk);
      const started = performance.now();
      hashBlocks(chunk).copy(hashes, at);
      input.meters.hash.add(performance.now() - started);
    }
    hashed.catch(() => undefined); // awaited below; a write failing first must not leave it unhandled
    await write(chunk);
    await previous;
    previous = hashed;
  }
  await previous;
}

/** Room left in a piece for a diff's sparse map (its exact size is known once the blocks are). */
const SPARSE_MAP_ALLOWANCE = 64 * 1024;

/** The data bytes of a sparse member of `segments` (its map and their bytes). */
function encodedSparseBytes(segments: readonly Segment[], realSize: number): number {
  return encodeSparseMap(segments, realSize).byteLength + segments.reduce((sum, s) => sum + s.length, 0);
}

/** The sha256 of each block of `chunk` (one that starts on a block boundary; a short last block hashed as it is), 32 bytes each, as the reader thread's `chunk` gives them. */
function hashBlocks(chunk: Buffer): Buffer {
  const count = Math.ceil(chunk.byteLength / BLOCK_BYTES);
  const out = Buffer.allocUnsafe(count * HASH_BYTES);
  for (let k = 0; k < count; k++) blockSha256(chunk.subarray(k * BLOCK_BYTES, (k + 1) * BLOCK_BYTES)).copy(out, k * HASH_BYTES);
  return out;
}

/**
 * How the file differs from when it was opened, or undefined: a stored file
 * that changed meanwhile is reported, as for small files. ctime catches a
 * same-size rewrite whose mtime was set back (utimes).
 */
function changedSince(fd: number, opened: BigIntStats): string | undefined {
  let now: BigIntStats;
  try {
    now = fstatSync(fd, { bigint: true });
  } catch {
    return undefined; // the content is already read; an fstat failure now says nothing about it
  }
  if (now.size !== opened.size) return `changed during backup: ${opened.size} bytes when opened, ${now.size} after; stored the first ${opened.size}`;
  if (now.mtimeNs !== opened.mtimeNs) return 'changed during backup (its mtime moved while it was read)';
  if (now.ctimeNs !== opened.ctimeNs) return 'changed during backup (its ctime moved while it was read)';
  return undefined;
}

/**
 * Positioned reads of exactly the bytes asked for: a file that shrank or
 * fails to read gives zeros from there (the header promised its size), and
 * the first such problem is kept for the report.
 */
class BlockReader {
  readonly #fd: number;
  readonly #size: number;
  readonly #meter: BusyMeter;
  /** Fresh chunks' buffers the pool has copied (chunk-recycling.ts), read into again. */
  readonly #spare: ArrayBuffer[] = [];
  readonly #giveBack = (buffer: ArrayBuffer): void => {
    if (this.#spare.length < MAX_SPARE_READS) this.#spare.push(buffer);
  };
  problem: string | undefined;
  /** The problem is that the file shrank under the reader (it changed), not a read failure. */
  changed = false;

  constructor(fd: number, size: number, meter: BusyMeter) {
    this.#fd = fd;
    this.#size = size;
    this.#meter = meter;
  }

  /**
   * The chunks of [from, to) (from block-aligned), each read while the one
   * before is being hashed. `fresh`: a new buffer each time, for chunks
   * handed to the tar stream (which may hold them after the write
   * resolves); otherwise two buffers take turns, and a chunk is valid until
   * the next one is asked for.
   *
   * A fresh chunk's buffer comes back once the buffer pool has copied it
   * (chunk-recycling.ts: the tar stream hands member data to the pool as it
   * got it, and nothing else keeps it) and is read into again: a new 1 MiB
   * buffer a read cost about 3.5 ms of page faults here (the allocator maps
   * fresh pages for it), the read itself 0.15 ms.
   */
  async *chunks(from: number, to: number, fresh: boolean): AsyncGenerator<{ position: number; chunk: Buffer }, void, undefined> {
    const spare = fresh ? undefined : [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)];
    let turn = 0;
    const start = (position: number): Promise<Buffer> => this.#read(position, Math.min(READ_BYTES, to - position), spare?.[turn++ % 2]);
    let pending = from < to ? start(from) : undefined;
    for (let position = from; position < to; position += READ_BYTES) {
      const chunk = await pending!;
      pending = position + READ_BYTES < to ? start(position + READ_BYTES) : undefined;
      yield { position, chunk };
    }
  }

  async #read(position: number, length: number, into: Buffer | undefined): Promise<Buffer> {
    const buffer = into ? into.subarray(0, length) : this.#fresh(length);
    let filled = 0;
    this.#meter.start();
    try {
      while (filled < length) {
        const { bytesRead } = await readFd(this.#fd, buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) {
          if (this.problem === undefined) this.changed = true;
          this.problem ??= `changed during backup: shrank below ${position + filled} of ${this.#size} bytes; stored zeros from there`;
          break;
        }
        filled += bytesRead;
      }
    } catch (error) {
      this.problem ??= `read failed at byte ${position + filled} (${describeFsError(error)}); stored zeros from there`;
    } finally {
      this.#meter.stop();
    }
    buffer.fill(0, filled);
    return buffer;
  }

  /** A buffer for a fresh chunk: a spare one the pool gave back, or a new one; given back in turn once the pool has copied it. */
  #fresh(length: number): Buffer {
    const spare = this.#spare.pop();
    // allocUnsafeSlow: a buffer of its own (the pool gives back its ArrayBuffer), not zero-filled (#read fills every byte).
    const buffer = Buffer.from(spare ?? Buffer.allocUnsafeSlow(READ_BYTES).buffer, 0, length);
    recycleAfterCopy(buffer.buffer as ArrayBuffer, this.#giveBack);
    return buffer;
  }
}

/** A member's content writer that also hashes what it writes: the sha256 the fragment checksum takes for the member's data. */
function hashedWriter(write: ContentWriter): { pass: ContentWriter; digest: () => string } {
  const hash = createHash('sha256');
  return {
    pass: async (chunk) => {
      hash.update(chunk);
      await write(chunk);
    },
    digest: () => hash.digest('hex'),
  };
}
