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
 * The reader's side: computes `tar-members-1` from a fragment's bytes as
 * they stream, following the member boundaries from the headers (restore's
 * fragment check). Tolerates anything: a malformed stream gives some other
 * checksum, never an exception.
 */
export class TarMembersVerifier {
  readonly #hash = createHash('sha256');
  readonly #header = Buffer.alloc(BLOCK);
  #headerBytes = 0;
  /** Data still to come of the current member: `content` is replaced by its digest; `raw` (other members' data, padding) is hashed as is. */
  #mode: 'header' | 'content' | 'raw' = 'header';
  #left = 0;
  #padding = 0;
  #member: Hash | undefined;

  update(chunk: Uint8Array): this {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#mode === 'header') {
        const n = Math.min(BLOCK - this.#headerBytes, chunk.byteLength - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerBytes);
        this.#headerBytes += n;
        at += n;
        if (this.#headerBytes === BLOCK) this.#onHeader();
        continue;
      }
      const n = Math.min(this.#left, chunk.byteLength - at);
      const part = chunk.subarray(at, at + n);
      if (this.#mode === 'content') this.#member!.update(part);
      else this.#hash.update(part);
      this.#left -= n;
      at += n;
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
      this.#hash.update(this.#member!.digest());
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
function hasNoData(typeflag: number): boolean {
  return typeflag >= 0x31 && typeflag <= 0x36;
}

/** '0', NUL (old tar) and '7' (contiguous) are regular files: the members whose data the checksum replaces by its digest. */
function isRegularFile(typeflag: number): boolean {
  return typeflag === 0x30 || typeflag === 0 || typeflag === 0x37;
}

/**
 * The size field (bytes 124–135): octal digits, or base-256 with the high
 * bit set (what tar-stream writes beyond 8 GiB). Anything else counts as 0:
 * deterministic, which is all a checksum needs of a damaged header.
 */
function headerSize(header: Buffer): number {
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
