import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export interface TreeComparison {
  entries: number;
  files: number;
  bytes: number;
  symlinks: number;
  hardLinks: number;
  directories: number;
  differences: string[];
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    out.push(path);
    if (lstatSync(join(root, path)).isDirectory()) out.push(...walk(root, path));
  }
  return out;
}

/**
 * Compares two trees the way an administrator checks a restore: the same
 * names, types, bytes (sha256), modes, mtimes (to the second: tar keeps
 * sub-second time only in pax headers), symlink targets, and the same
 * hard-link groups.
 */
export async function compareTrees(expectedRoot: string, actualRoot: string): Promise<TreeComparison> {
  const expected = walk(expectedRoot);
  const actual = new Set(walk(actualRoot));
  const result: TreeComparison = { entries: expected.length, files: 0, bytes: 0, symlinks: 0, hardLinks: 0, directories: 0, differences: [] };
  const inodeGroups = new Map<string, { expected: string; actualIno: number }>();
  for (const path of expected) {
    if (!actual.delete(path)) {
      result.differences.push(`${path}: missing from the restore`);
      continue;
    }
    const e: Stats = lstatSync(join(expectedRoot, path));
    const a: Stats = lstatSync(join(actualRoot, path));
    const type = (s: Stats): string => (s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other');
    if (type(e) !== type(a)) {
      result.differences.push(`${path}: ${type(e)} became ${type(a)}`);
      continue;
    }
    if (e.isSymbolicLink()) {
      result.symlinks++;
      const [te, ta] = [readlinkSync(join(expectedRoot, path)), readlinkSync(join(actualRoot, path))];
      if (te !== ta) result.differences.push(`${path}: symlink target ${ta} instead of ${te}`);
      continue;
    }
    if ((e.mode & 0o7777) !== (a.mode & 0o7777)) result.differences.push(`${path}: mode ${(a.mode & 0o7777).toString(8)} instead of ${(e.mode & 0o7777).toString(8)}`);
    if (Math.floor(e.mtimeMs / 1000) !== Math.floor(a.mtimeMs / 1000)) result.differences.push(`${path}: mtime ${a.mtime.toISOString()} instead of ${e.mtime.toISOString()}`);
    if (e.isDirectory()) {
      result.directories++;
      continue;
    }
    result.files++;
    result.bytes += e.size;
    const [he, ha] = await Promise.all([fileSha256(join(expectedRoot, path)), fileSha256(join(actualRoot, path))]);
    if (he !== ha) result.differences.push(`${path}: content differs (sha256 ${ha} instead of ${he})`);
    if (e.nlink > 1) {
      const group = inodeGroups.get(`${e.dev}:${e.ino}`);
      if (!group) inodeGroups.set(`${e.dev}:${e.ino}`, { expected: path, actualIno: a.ino });
      else {
        result.hardLinks++;
        if (group.actualIno !== a.ino) result.differences.push(`${path}: should be a hard link to ${group.expected}`);
      }
    }
  }
  for (const extra of actual) result.differences.push(`${extra}: in the restore but not in the source`);
  return result;
}
