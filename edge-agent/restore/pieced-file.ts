import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Header } from 'tar-stream';

/**
 * A file stored as pieces (image/piece-member.ts) being restored: one
 * temporary file kept open across members and fragments, written in order,
 * each piece continuing exactly where the one before stopped, and hashed
 * whole, so its sha256 is checked once the last piece is in (the index's
 * sha256 is of the whole file; no piece has one of its own).
 */
export class PiecedFile {
  readonly relative: string;
  readonly absolute: string;
  readonly temp: string;
  readonly handle: FileHandle;
  /** The first piece's header: the file's mode, owner and times. */
  readonly header: Header;
  readonly size: number;
  /** The sha256 the whole file must have (undefined: not checked, as for any member without one). */
  readonly sha256: string | undefined;
  /** The 1-based number of pieces written so far. */
  pieces = 0;
  /** Where the next piece must start: the bytes written so far. */
  next = 0;
  readonly #hash: Hash;

  /** `next` and `hash`: a file continued from a partial file (partial-file.ts) holding its first `next` bytes, hashed into `hash`. */
  constructor(init: { relative: string; absolute: string; temp: string; handle: FileHandle; header: Header; size: number; sha256: string | undefined; next?: number; hash?: Hash }) {
    this.#hash = init.hash ?? createHash('sha256');
    this.next = init.next ?? 0;
    this.relative = init.relative;
    this.absolute = init.absolute;
    this.temp = init.temp;
    this.handle = init.handle;
    this.header = init.header;
    this.size = init.size;
    this.sha256 = init.sha256;
  }

  /** Why a piece holding `length` bytes from `fileOffset` of a file of `fileSize` bytes cannot be the next one, or undefined. */
  refusal(fileOffset: number, length: number, fileSize: number): string | undefined {
    if (fileSize !== this.size) return `its piece ${this.pieces + 1} says the file has ${fileSize} bytes, the first piece ${this.size}`;
    if (fileOffset !== this.next) return `its piece ${this.pieces + 1} starts at byte ${fileOffset}, where byte ${this.next} comes next`;
    if (fileOffset + length > this.size) return `its piece ${this.pieces + 1} runs past the file's ${this.size} bytes`;
    return undefined;
  }

  /** The numbers of the fragments its pieces came from, in order (to name them when the whole file fails its sha256). */
  readonly fragments: number[] = [];

  /** Appends a piece's data, in order; `fragment` is where it was read. */
  async append(data: AsyncIterable<Uint8Array>, fragment?: number): Promise<void> {
    if (fragment !== undefined && this.fragments.at(-1) !== fragment) this.fragments.push(fragment);
    for await (const chunk of data) {
      this.#hash.update(chunk);
      let offset = 0;
      while (offset < chunk.byteLength) offset += (await this.handle.write(chunk, offset, chunk.byteLength - offset, this.next + offset)).bytesWritten;
      this.next += chunk.byteLength;
    }
    this.pieces += 1;
  }

  get complete(): boolean {
    return this.next === this.size;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}
