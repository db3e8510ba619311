import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Deterministic pseudo-random bytes (xorshift), so the sample is the same on
 * every machine and compresses like real data rather than like zeros.
 */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface SampleTree {
  root: string;
  files: number;
  bytes: number;
}

/**
 * A tree that exercises what restores get wrong: sizes from 0 bytes across
 * block and buffer boundaries to several MiB, nesting, a symlink, a hard link,
 * an empty directory, names with spaces and non-ASCII, odd modes and mtimes.
 */
export function makeSampleTree(root: string, options: { largeBytes?: number } = {}): SampleTree {
  const sizes = [0, 1, 511, 512, 513, 4096, 65_535, 65_536, 262_145, 1_000_000, options.largeBytes ?? 5 * 1024 * 1024 + 17];
  let files = 0;
  let total = 0;
  const write = (path: string, data: Buffer, mode = 0o644): void => {
    writeFileSync(path, data);
    chmodSync(path, mode);
    files++;
    total += data.length;
  };
  mkdirSync(join(root, 'docs', 'reports', '2026'), { recursive: true });
  mkdirSync(join(root, 'empty dir'), { recursive: true });
  mkdirSync(join(root, 'café', 'naïve ünïcödé 日本'), { recursive: true });
  sizes.forEach((size, i) => write(join(root, 'docs', `file-${String(i).padStart(2, '0')}-${size}.bin`), bytes(size, i + 1)));
  write(join(root, 'docs', 'reports', '2026', 'quarterly report.txt'), Buffer.from('Q3 revenue was fine.\n'.repeat(200)));
  write(join(root, 'café', 'naïve ünïcödé 日本', 'résumé – final.txt'), Buffer.from('ünïcödé content ✓\n'));
  write(join(root, 'run.sh'), Buffer.from('#!/bin/sh\necho hello\n'), 0o755);
  write(join(root, 'secret.key'), bytes(64, 99), 0o600);
  write(join(root, 'docs', 'a'.repeat(120) + '.txt'), Buffer.from('a long name needs a pax header\n'));
  linkSync(join(root, 'docs', 'reports', '2026', 'quarterly report.txt'), join(root, 'docs', 'hard link to report.txt'));
  symlinkSync('docs/reports/2026/quarterly report.txt', join(root, 'link to report'));
  symlinkSync('../missing-target', join(root, 'docs', 'dangling link'));
  const old = new Date('2020-02-29T12:34:56.789Z');
  utimesSync(join(root, 'secret.key'), old, old);
  utimesSync(join(root, 'empty dir'), old, old);
  return { root, files, bytes: total };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
