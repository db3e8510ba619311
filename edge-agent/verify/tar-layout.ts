import { hasNoData, headerSize } from '../image/fragment-digest.ts';

const BLOCK = 512;

/** Typeflags of headers that describe the next member (pax `x`/`g`, GNU long name `L` and long link `K`). */
const LONG_HEADERS = new Set([0x78, 0x67, 0x4c, 0x4b]);

/** Where a structural problem is: the tar offset of the byte, and the first header of the member it belongs to (undefined before the first). */
export interface LayoutProblem {
  offset: number;
  memberStart: number | undefined;
  reason: string;
}

/**
 * Checks the block structure of a tar stream as it flows, byte for byte:
 * every header block's checksum, that the padding after each member's data
 * (and after pax records) is zeros, and that the end-of-archive blocks and
 * anything after them are zeros. It also tells, for each member's own
 * header, where the member's first header is (its pax header, when it has
 * one): the offset the index records.
 *
 * Hand-written, like TarMembersVerifier (image/fragment-digest.ts): tar-stream
 * exposes neither the offsets of pax headers nor the padding, and these are
 * exactly the bytes whose damage no field comparison would show. Stops
 * at the first header whose checksum fails: past it the member boundaries
 * are not known.
 */
export class TarLayout {
  readonly problems: LayoutProblem[] = [];
  /** Own header offset → first header offset, for members seen and not yet taken. */
  readonly #firstHeaderOf = new Map<number, number>();
  readonly #header = Buffer.alloc(BLOCK);
  #headerBytes = 0;
  #mode: 'header' | 'data' | 'padding' | 'end' | 'broken' = 'header';
  #left = 0;
  #padding = 0;
  #offset = 0;
  /** The first header of the member whose headers are being read (a pax header's offset until its member's own header comes). */
  #chainStart: number | undefined;
  /** The first header of the last member seen: problems in its data or padding are its. */
  #member: number | undefined;
  #zeroBlocks = 0;

  update(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength && this.#mode !== 'broken') {
      if (this.#mode === 'header') {
        const n = Math.min(BLOCK - this.#headerBytes, chunk.byteLength - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerBytes);
        this.#headerBytes += n;
        at += n;
        this.#offset += n;
        if (this.#headerBytes === BLOCK) this.#onHeader(this.#offset - BLOCK);
        continue;
      }
      if (this.#mode === 'data') {
        const n = Math.min(this.#left, chunk.byteLength - at);
        this.#left -= n;
        at += n;
        this.#offset += n;
        if (this.#left === 0) this.#mode = this.#padding > 0 ? 'padding' : 'header';
        continue;
      }
      // Padding and everything after the end-of-archive blocks: zeros only.
      const n = this.#mode === 'padding' ? Math.min(this.#padding, chunk.byteLength - at) : chunk.byteLength - at;
      for (let i = 0; i < n; i++) {
        if (chunk[at + i] !== 0) {
          if (this.#mode === 'padding') this.#problem(this.#offset + i, 'the padding after its data is not zeros');
          else this.#problem(this.#offset + i, 'a byte after the end-of-archive blocks is not zero', false);
          break;
        }
      }
      at += n;
      this.#offset += n;
      if (this.#mode === 'padding') {
        this.#padding -= n;
        if (this.#padding === 0) this.#mode = 'header';
      }
    }
  }

  /** Called once the stream has ended: an archive must end with its two zero blocks at a block boundary. */
  end(): void {
    if (this.#mode === 'broken') return;
    if (this.#mode === 'data' || this.#mode === 'padding' || this.#headerBytes > 0) this.#problem(this.#offset, 'the archive ends inside a member');
    else if (this.#mode !== 'end') this.#problem(this.#offset, 'the archive ends without its end-of-archive blocks');
  }

  /** The first header of the member whose own header is at `offset` (its pax header, when it has one), forgotten once taken. */
  takeFirstHeader(offset: number): number | undefined {
    const first = this.#firstHeaderOf.get(offset);
    for (const key of this.#firstHeaderOf.keys()) {
      if (key > offset) break;
      this.#firstHeaderOf.delete(key);
    }
    return first;
  }

  get broken(): boolean {
    return this.#mode === 'broken';
  }

  #onHeader(offset: number): void {
    this.#headerBytes = 0;
    const block = this.#header;
    if (block.every((b) => b === 0)) {
      // The end-of-archive marker is two zero blocks; a lone zero block inside the archive is a damaged header.
      this.#zeroBlocks += 1;
      if (this.#zeroBlocks === 2) this.#mode = 'end';
      return;
    }
    if (this.#zeroBlocks > 0) {
      this.#problem(offset - BLOCK, 'a zero block stands where a header belongs (or the end-of-archive blocks are damaged)', false);
      this.#zeroBlocks = 0;
    }
    const start = this.#chainStart ?? offset;
    const stored = parseOctal(block.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (stored !== sum) {
      this.#member = start;
      this.#problem(offset, `its header at byte ${offset} fails its checksum (${stored ?? 'unreadable'}, computed ${sum})`);
      this.#mode = 'broken';
      return;
    }
    const typeflag = block[156]!;
    const size = hasNoData(typeflag) ? 0 : headerSize(block);
    if (LONG_HEADERS.has(typeflag)) this.#chainStart = start;
    else {
      this.#firstHeaderOf.set(offset, start);
      this.#chainStart = undefined;
    }
    this.#member = start;
    if (size === 0) return;
    this.#mode = 'data';
    this.#left = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  /** `ofMember` false: the bytes belong to no member (after the end-of-archive blocks), so none is named. */
  #problem(offset: number, reason: string, ofMember = true): void {
    this.problems.push({ offset, memberStart: ofMember ? this.#member : undefined, reason });
  }
}

/** An octal field (NUL- or space-terminated, leading spaces allowed); undefined when it holds anything else. */
function parseOctal(field: Buffer): number | undefined {
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < field.length; i++) {
    const c = field[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return undefined;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? undefined : value;
}
