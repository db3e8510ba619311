import { createHash } from 'node:crypto';

/*
 * File versions that describe themselves, for tests that back up files
 * while they are rewritten: a trailer with the version's generation and the
 * sha256 of everything before it, so any content can be told to be one
 * complete version (whichever) or torn (a mix of two, a cut one, zeros where
 * data was). A trailer rather than a header: a longer version can then hold
 * a shorter one as its prefix, so a writer can grow a file with one pwrite
 * and shrink it with one ftruncate and never leave anything else on disk
 * between two system calls (rewriting-writer-child.ts).
 */

/** How much a resized file's long version is longer than its short one (rewriting-writer-child.ts). */
export const LONG_VERSION_EXTRA = 1000 + 77;

/** Newline + `v` + 10 digits of generation + space + 64 hex digits of the sha256 of what comes before. */
export const TRAILER_BYTES = 77;

/**
 * The body of variant `variant` (0, 1, 2) of file `file`: every byte differs
 * from the same byte of the other variants, so a mix of two shows in the
 * sha256.
 */
export function bodyOf(file: number, variant: number, length: number): Buffer {
  const pattern = Buffer.allocUnsafe(4093);
  let x = (file + 1) * 2654435761;
  for (let i = 0; i < pattern.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    pattern[i] = ((x >>> 16) + variant * 85 + 1) & 0xff;
  }
  const body = Buffer.allocUnsafe(length);
  if (length > 0) body.fill(pattern);
  return body;
}

/** A whole version: `body` and its trailer (generation `generation`). */
export function versionOf(body: Buffer, generation: number): Buffer {
  const version = Buffer.allocUnsafe(body.byteLength + TRAILER_BYTES);
  body.copy(version, 0);
  sealVersion(version, generation);
  return version;
}

/** Writes the trailer of a version buffer whose body (all but the last TRAILER_BYTES) is in place. */
export function sealVersion(version: Buffer, generation: number): void {
  const end = version.byteLength - TRAILER_BYTES;
  const sha = createHash('sha256').update(version.subarray(0, end)).digest('hex');
  version.write(`\nv${String(generation).padStart(10, '0')} ${sha}`, end, 'latin1');
}

/** Changes a version's generation without touching its sha256: only for a version whose sha256 does not cover it (the same body). */
export function setGeneration(version: Buffer, generation: number): void {
  version.write(String(generation).padStart(10, '0'), version.byteLength - TRAILER_BYTES + 2, 'latin1');
}

/** The generation of a complete version, or why `content` is not one. */
export function versionIn(content: Buffer): { generation: number } | { torn: string } {
  if (content.byteLength < TRAILER_BYTES) return { torn: `${content.byteLength} bytes, shorter than a trailer` };
  const end = content.byteLength - TRAILER_BYTES;
  const trailer = content.subarray(end).toString('latin1');
  const match = /^\nv(\d{10}) ([0-9a-f]{64})$/.exec(trailer);
  if (!match) return { torn: `no version trailer at byte ${end}` };
  const sha = createHash('sha256').update(content.subarray(0, end)).digest('hex');
  if (sha !== match[2]) return { torn: `generation ${Number(match[1])}: its ${end} bytes are not the ones its trailer names` };
  return { generation: Number(match[1]) };
}
