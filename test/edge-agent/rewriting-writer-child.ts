import { closeSync, fdatasyncSync, ftruncateSync, futimesSync, openSync, writeSync } from 'node:fs';
import { bodyOf, LONG_VERSION_EXTRA, sealVersion, setGeneration, TRAILER_BYTES, versionOf } from './self-describing-versions.ts';

/*
 * A writer that rewrites files without pause, in place, until it is killed
 * (change-detection.test.ts). argv[2]: JSON list of { path, file, size,
 * sameSize }. Every system call leaves a complete version on disk
 * (self-describing-versions.ts); a reader can only see a torn one while a
 * write is in progress.
 * - `sameSize`: each rewrite is the next generation (one of three bodies)
 *   written with one pwrite at byte 0, and the mtime set back to a fixed
 *   time: only ctime tells the change.
 * - otherwise the file grows and shrinks: one pwrite of a longer version
 *   whose first `size` bytes are a complete shorter version (of the next
 *   body), then one ftruncate to that shorter version.
 * A file above a page is synced after each version (fdatasync): with pages
 * dirtied without end, the kernel throttles the writer by pausing it inside
 * a write, half done, and a write in progress since before a reader opened
 * the file leaves no trace in its size, mtime or ctime (docs/image-format.md,
 * Files that change while they are read).
 * Prints `ready` when it starts rewriting.
 */

interface Spec {
  path: string;
  file: number;
  size: number;
  sameSize: boolean;
}

/** The fixed mtime of `sameSize` files (seconds). */
const FIXED_MTIME = 1_700_000_000;
const PAGE = 4096;

const specs = JSON.parse(process.argv[2]!) as Spec[];
const files = specs.map((spec) => {
  const bodies = [0, 1, 2].map((variant) => bodyOf(spec.file, variant, spec.size - TRAILER_BYTES));
  return { spec, fd: openSync(spec.path, 'r+'), versions: bodies.map((body) => versionOf(body, 0)), long: Buffer.alloc(spec.size + LONG_VERSION_EXTRA, 0x5a), generation: 0 };
});

process.stdout.write('ready\n');
for (let round = 1; ; round++) {
  for (const file of files) {
    const version = file.versions[(file.generation += 1) % 3]!;
    if (file.spec.sameSize) {
      setGeneration(version, file.generation);
      writeSync(file.fd, version, 0, version.byteLength, 0);
      futimesSync(file.fd, FIXED_MTIME, FIXED_MTIME);
      if (version.byteLength > PAGE) fdatasyncSync(file.fd);
      continue;
    }
    // The next short version, then the long one holding it; the trailers' sha256s cover their generations.
    sealVersion(version, file.generation);
    version.copy(file.long, 0);
    sealVersion(file.long, file.generation);
    writeSync(file.fd, file.long, 0, file.long.byteLength, 0);
    ftruncateSync(file.fd, version.byteLength);
    if (file.long.byteLength > PAGE) fdatasyncSync(file.fd);
  }
  if (round === Number.MAX_SAFE_INTEGER) break;
}
for (const file of files) closeSync(file.fd);
