import { createHash, type Hash } from 'node:crypto';
import type { Fragment, FragmentChecksum } from '#core/model/image.ts';

/**
 * The fragment checksum `tar-members-1` (docs/image-format.md, Fragments):
 * the sha256 of the fragment's tar stream in which the data of every
 * regular-file member with data is replaced by the 32-byte sha256 of that
 * data. Everything else — ustar headers, pax headers and their records,
 * padding, end-of-archive blocks, any trailing bytes — is hashed as it is.
 *
 * Why: file content is hashed once anyway, for the index (on the reader
 * thread); hashing the whole fragment again cost a second pass over every
 * byte on the main thread. This checksum covers every byte just the same:
 * where a member's data starts and ends follows from the headers before it,
 * which are hashed as they are, so two different streams give two
 * different hashed sequences, and sha256 makes equal checksums of
 * different fragments infeasible.
 */
export const TAR_MEMBERS_CHECKSUM = 'tar-members-1' satisfies FragmentChecksum;

const BLOCK = 512;

/**
 * The writer's side: fed what the tar packer produces, in order. Headers and
 * padding go to `raw`; a file member's data is not fed at all, and its
 * sha256 (already computed by the reader) goes to `member` once the data is
 * written, before the next raw bytes.
 */
export class TarMembersDigest {
  readonly #hash = createHash('sha256');
  #owed: Buffer | undefined;

  raw(bytes: Uint8Array): void {
    this.#settle();
    this.#hash.update(bytes);
  }

  /** A member's data (of at least one byte) ended; `sha256` is its hex sha256. */
  member(sha256: string): void {
    this.#owed = Buffer.from(sha256, 'hex');
  }

  digest(): string {
    this.#settle();
    return this.#hash.digest('hex');
  }

  /** The member's digest goes where its data was: before the padding or header that follows it. */
  #settle(): void {
    if (this.#owed === undefined) return;
    this.#hash.update(this.#owed);
    this.#owed = undefined;
  }
}

/**
 * The digests of member data that computing `tar-members-1` yields anyway:
 * each regular file's sha256 is the very hash restore checks against the
 * index, so one pass over the bytes serves both (restore/tar-extractor.ts).
 */
export interface MemberDigests {
  /**
   * Whether the data of `size` bytes starting at tar offset `start` is
   * hashed as one member's: then, once all of it has gone through, `take`
   * gives its sha256. False where the checksum's reading of the headers
   * differs (the caller hashes the data itself).
   */
  covers(start: number, size: number): boolean;
  /** The hex sha256 of the member data that started at `start`, once all of it went through; forgets it and every earlier one. */
  take(start: number): string | undefined;
  /** Forgets the digests of members before `start` (members the caller skips). */
  passed(start: number): void;
}

/**
 * The reader's side: computes `tar-members-1` from a fragment's bytes as
 * they stream, following the member boundaries from the headers (restore's
 * fragment check), and offers each member's data digest (MemberDigests).
 * Tolerates anything: a malformed stream gives some other checksum, never
 * an exception.
 */
export class TarMembersVerifier implements MemberDigests {
  readonly #hash = createHash('sha256');
  readonly #header = Buffer.alloc(BLOCK);
  #headerBytes = 0;
  /** Data still to come of the current member: `content` is replaced by its digest; `raw` (other members' data, padding) is hashed as is. */
  #mode: 'header' | 'content' | 'raw' = 'header';
  #left = 0;
  #padding = 0;
  #member: Hash | undefined;
  /** Tar offset of the next byte `update` takes. */
  #offset = 0;
  /** Where the current content member's data starts, and its size. */
  #start = 0;
  #size = 0;
  /** Finished members' digests by data offset, in offset order, until taken or passed; kept only when asked for (`memberDigests`). */
  readonly #done = new Map<number, { size: number; sha256: Buffer }>();
  readonly #keep: boolean;

  /** `memberDigests`: keep each member's digest for `take` (its reader must `take` or `pass` them, or they pile up). */
  constructor(options: { memberDigests?: boolean } = {}) {
    this.#keep = options.memberDigests ?? false;
  }

  update(chunk: Uint8Array): this {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#mode === 'header') {
        const n = Math.min(BLOCK - this.#headerBytes, chunk.byteLength - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerBytes);
        this.#headerBytes += n;
        at += n;
        this.#offset += n;
        if (this.#headerBytes === BLOCK) this.#onHeader();
        continue;
      }
      const n = Math.min(this.#left, chunk.byteLength - at);
      const part = chunk.subarray(at, at + n);
      if (this.#mode === 'content') this.#member!.update(part);
      else this.#hash.update(part);
      this.#left -= n;
      at += n;
      this.#offset += n;
      if (this.#left === 0) this.#onDataEnd();
    }
    return this;
  }

  digest(): string {
    // A stream that ends mid-block or mid-member: what there is, deterministically.
    if (this.#mode === 'header' && this.#headerBytes > 0) this.#hash.update(this.#header.subarray(0, this.#headerBytes));
    if (this.#mode === 'content') this.#hash.update(this.#member!.digest());
    return this.#hash.digest('hex');
  }

  covers(start: number, size: number): boolean {
    if (!this.#keep) return false;
    if (this.#mode === 'content' && this.#start === start) return this.#size === size;
    return this.#done.get(start)?.size === size;
  }

  take(start: number): string | undefined {
    const sha256 = this.#done.get(start)?.sha256.toString('hex');
    this.passed(start + 1);
    return sha256;
  }

  passed(start: number): void {
    for (const offset of this.#done.keys()) {
      if (offset >= start) return;
      this.#done.delete(offset);
    }
  }

  #onHeader(): void {
    this.#headerBytes = 0;
    this.#hash.update(this.#header);
    const typeflag = this.#header[156]!;
    const size = hasNoData(typeflag) ? 0 : headerSize(this.#header);
    if (size === 0) return; // end-of-archive blocks, and members without data
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (isRegularFile(typeflag)) {
      this.#mode = 'content';
      this.#left = size;
      this.#start = this.#offset;
      this.#size = size;
      this.#member = createHash('sha256');
    } else {
      // pax records, GNU long names and any other member's data: hashed as they are.
      this.#mode = 'raw';
      this.#left = size + this.#padding;
      this.#padding = 0;
    }
  }

  #onDataEnd(): void {
    if (this.#mode === 'content') {
      const sha256 = this.#member!.digest();
      this.#hash.update(sha256);
      if (this.#keep) this.#done.set(this.#start, { size: this.#size, sha256 });
      this.#member = undefined;
      if (this.#padding > 0) {
        this.#mode = 'raw';
        this.#left = this.#padding;
        this.#padding = 0;
        return;
      }
    }
    this.#mode = 'header';
  }
}

/** The hasher that recomputes a fragment's checksum as recorded: `tar-members-1`, or the sha256 of its stored bytes (images before it). */
export function fragmentChecksum(fragment: Pick<Fragment, 'checksum'>): { update(chunk: Uint8Array): unknown; digest(encoding: 'hex'): string } {
  if (fragment.checksum === TAR_MEMBERS_CHECKSUM) {
    const verifier = new TarMembersVerifier();
    return { update: (chunk) => verifier.update(chunk), digest: () => verifier.digest() };
  }
  return createHash('sha256');
}

/**
 * Links, devices, directories and FIFOs ('1'–'6'): no data follows their
 * header whatever its size field says (POSIX; tar-stream and GNU tar read
 * them so), so none is taken here either.
 */
export function hasNoData(typeflag: number): boolean {
  return typeflag >= 0x31 && typeflag <= 0x36;
}

/** '0', NUL (old tar) and '7' (contiguous) are regular files: the members whose data the checksum replaces by its digest. */
export function isRegularFile(typeflag: number): boolean {
  return typeflag === 0x30 || typeflag === 0 || typeflag === 0x37;
}

/**
 * The size field (bytes 124–135): octal digits, or base-256 with the high
 * bit set (what tar-stream writes beyond 8 GiB). Anything else counts as 0:
 * deterministic, which is all a checksum needs of a damaged header.
 */
export function headerSize(header: Buffer): number {
  const first = header[124]!;
  if (first & 0x80) {
    if (first !== 0x80) return 0;
    let value = 0;
    for (let i = 125; i < 136; i++) value = value * 256 + header[i]!;
    return Number.isSafeInteger(value) ? value : 0;
  }
  let i = 124;
  while (i < 136 && (header[i] === 0x20 || header[i] === 0)) i++;
  let value = 0;
  for (; i < 136; i++) {
    const c = header[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return 0;
    value = value * 8 + (c - 0x30);
  }
  return value;
}
