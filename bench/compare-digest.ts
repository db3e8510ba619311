/**
 * A tree's content as a list of (relative path, type, size, sha256), sorted,
 * and its sha256: the byte-for-byte check of every restore in
 * `bench:compare`. Holes read as zeros, so a restore that fills a sparse
 * file compares equal to the sparse original (its content is the same).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

export interface TreeDigest {
  sha256: string;
  entries: Map<string, string>;
  files: number;
  bytes: number;
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function digestTree(root: string): Promise<TreeDigest> {
  const entries = new Map<string, string>();
  let files = 0;
  let bytes = 0;
  const pending: Array<() => Promise<void>> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, dirent.name);
      const rel = path.relative(root, full);
      if (dirent.isDirectory()) {
        entries.set(rel, 'dir');
        await walk(full);
      } else if (dirent.isSymbolicLink()) {
        entries.set(rel, `link ${await readlink(full)}`);
      } else if (dirent.isFile()) {
        pending.push(async () => {
          const { size } = await lstat(full);
          files++;
          bytes += size;
          entries.set(rel, `file ${size} ${await fileSha256(full)}`);
        });
      }
    }
  };
  await walk(root);
  for (let i = 0; i < pending.length; i += 16) await Promise.all(pending.slice(i, i + 16).map((job) => job()));
  const hash = createHash('sha256');
  for (const key of [...entries.keys()].sort()) hash.update(`${key}\0${entries.get(key)}\n`);
  return { sha256: hash.digest('hex'), entries, files, bytes };
}

/** Paths whose entry differs (missing, extra or other content), at most `limit` of them. */
export function differences(expected: TreeDigest, actual: TreeDigest, limit = 5): string[] {
  const out: string[] = [];
  for (const [key, value] of expected.entries) if (actual.entries.get(key) !== value) out.push(actual.entries.has(key) ? `${key}: differs` : `${key}: missing`);
  for (const key of actual.entries.keys()) if (!expected.entries.has(key)) out.push(`${key}: extra`);
  return out.slice(0, limit);
}
