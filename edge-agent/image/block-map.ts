import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { imageKeys } from '#core/ids.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { readAll } from '#core/ports/object-store.ts';
import { ABORT_GRACE_MS, AbandonableWrite } from './abandonable-write.ts';

/**
 * Blocks of large files. A file of at least LARGE_FILE_BYTES is read in
 * BLOCK_BYTES blocks: all-zero blocks of a full backup are stored as holes,
 * and each block's sha256 goes into the image's block-map object, so the
 * next incremental can store only the blocks that changed.
 *
 * 64 KiB: the day-2 changes of the benchmark are 64 KiB VM blocks and 4 KiB
 * database pages, so a bigger block stores more unchanged bytes per change
 * (a 4 KiB page costs a whole block); a smaller one makes maps bigger
 * (32 bytes per block: 0.05% of the file) and hashing calls more numerous.
 */
export const BLOCK_BYTES = 64 * 1024;
/**
 * Below this a file is stored whole, through the reader's ordinary path: a
 * block diff would save little, and hashing its blocks would cost every full
 * backup a second hash of the file (the benchmark's medium files, 1–9 MiB,
 * stay below it).
 */
export const LARGE_FILE_BYTES = 16 * 1024 * 1024;
export const HASH_BYTES = 32;

const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES);
/** The sha256 of a whole all-zero block, so hole blocks are never hashed one by one. */
export const ZERO_BLOCK_SHA256 = createHash('sha256').update(ZERO_BLOCK).digest();

/** Whether a block is all zeros (memcmp against a zero block). */
export function isZeroBlock(block: Uint8Array): boolean {
  return block.byteLength === BLOCK_BYTES ? ZERO_BLOCK.equals(block) : ZERO_BLOCK.subarray(0, block.byteLength).equals(block);
}

/** Hashes `length` zero bytes into `hash` (the holes of a sparse file, for its whole-file sha256). */
export function hashZeros(hash: ReturnType<typeof createHash>, length: number): void {
  for (let left = length; left > 0; left -= BLOCK_BYTES) hash.update(left >= BLOCK_BYTES ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, left));
}

/** The sha256 of one block, with all-zero whole blocks answered without hashing. */
export function blockSha256(block: Uint8Array): Buffer {
  if (block.byteLength === BLOCK_BYTES && ZERO_BLOCK.equals(block)) return ZERO_BLOCK_SHA256;
  return createHash('sha256').update(block).digest();
}

/** Blocks of a file of `size` bytes. */
export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_BYTES);
}

/** The block-map object of an image: the per-block sha256 of every large file in it. */
export function blockMapKey(backupId: string): string {
  return `${imageKeys(backupId).prefix}/blocks.bin`;
}

/** Where one file's map is in the image's block-map object, and its sha256 (what the index line says). */
export interface BlockMapRef {
  blockBytes: number;
  offset: number;
  sha256: string;
}

/**
 * Streams an image's block-map object (`blocks.bin`): the maps of its large
 * files, one after the other, each 32 bytes a block. The object is created
 * with the first map; an image without large files has none. Each index
 * line of a large file gives its map's offset and sha256, so the map is
 * trusted through the index (whose sha256 the catalog holds).
 */
export class BlockMapWriter {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #abortGraceMs: number;
  #stream: PassThrough | undefined;
  #put: AbandonableWrite<{ bytes: number }> | undefined;
  #failure: { error: unknown } | undefined;
  #offset = 0;
  #done = false;
  #abandoned: string | undefined;

  constructor(store: ObjectStore, backupId: string, abortGraceMs = ABORT_GRACE_MS) {
    this.#store = store;
    this.#key = blockMapKey(backupId);
    this.#abortGraceMs = abortGraceMs;
  }

  /** Whether the object was completely written (for clean-up after a failure). */
  get written(): boolean {
    return this.#done;
  }

  get key(): string {
    return this.#key;
  }

  get abandoned(): string | undefined {
    return this.#abandoned;
  }

  get failure(): unknown {
    return this.#failure?.error;
  }

  /** Appends one file's map (its block hashes, concatenated) and says where it is. */
  async add(hashes: Buffer): Promise<BlockMapRef> {
    if (this.#failure) throw this.#failure.error;
    const stream = this.#open();
    const ref = { blockBytes: BLOCK_BYTES, offset: this.#offset, sha256: createHash('sha256').update(hashes).digest('hex') };
    this.#offset += hashes.byteLength;
    if (!stream.write(hashes)) {
      // A failed put destroys the stream: 'close' then ends the wait, and the failure is thrown.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
      if (this.failure !== undefined) throw this.failure;
    }
    return ref;
  }

  /** Ends the object and waits until it is durable (nothing to do when no map was added). */
  async finish(): Promise<void> {
    if (!this.#stream || !this.#put) return;
    this.#stream.end();
    await this.#put.result;
    this.#done = true;
  }

  async abort(reason: unknown): Promise<void> {
    if (!this.#stream || !this.#put || this.#done) return;
    this.#stream.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    if (!(await this.#put.settleWithin(this.#abortGraceMs, reason))) {
      this.#abandoned = `${this.#key}: its write did not stop within ${this.#abortGraceMs} ms of the abort; what it wrote is left for the janitor to remove with the job's claim`;
    }
  }

  #open(): PassThrough {
    if (this.#stream) return this.#stream;
    const stream = new PassThrough();
    stream.on('error', () => undefined); // surfaces through the put
    this.#stream = stream;
    this.#put = new AbandonableWrite(this.#store.put(this.#key, stream));
    this.#put.result.catch((error: unknown) => {
      this.#failure ??= { error };
      stream.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    return stream;
  }
}

/**
 * One file's block map from an image's block-map object, checked against
 * the sha256 its index line gives; undefined when it cannot be read or does
 * not match (the file is then stored whole, never wrongly as a diff).
 */
export async function readBlockMap(store: ObjectStore, backupId: string, ref: BlockMapRef, size: number): Promise<Buffer | undefined> {
  if (ref.blockBytes !== BLOCK_BYTES) return undefined;
  const length = blockCount(size) * HASH_BYTES;
  try {
    const map = await readAll(await store.get(blockMapKey(backupId), { start: ref.offset, end: ref.offset + length }));
    if (map.byteLength !== length || createHash('sha256').update(map).digest('hex') !== ref.sha256) return undefined;
    return map;
  } catch {
    return undefined;
  }
}
