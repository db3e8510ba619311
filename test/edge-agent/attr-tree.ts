import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { patterned } from './helpers.ts';

/**
 * The tree of extended attributes, ACLs and sparse files
 * (xattr-acl-sparse.test.ts, full-tree.test.ts), where it is made (a file
 * system that keeps them, prepared by each test file with `prepareAttrPlace()`
 * and removed by its afterAll) and how the tools show it.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
const ROOT = '/tmp/i11-xattr-acl';

/** A tool's output as latin1, so names that are not UTF-8 keep their bytes. */
export function run(file: string, args: string[], cwd?: string): string {
  return execFileSync(file, args, { encoding: 'latin1', cwd, env: { ...process.env, LC_ALL: 'C' } });
}

function works(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const tools = works('tar', ['--version']) && works('getfattr', ['--version']) && works('setfacl', ['--version']) && works('filefrag', ['-V']);
export const isRoot = process.getuid?.() === 0;

/** Whether `dir`'s file system keeps user xattrs and POSIX ACLs. */
function keepsAttrs(dir: string): boolean {
  const probe = path.join(dir, '.probe');
  try {
    writeFileSync(probe, '');
    execFileSync('setfattr', ['-n', 'user.probe', '-v', '1', probe], { stdio: 'ignore' });
    execFileSync('setfacl', ['-m', 'u:1234:r', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
}

/** Where a test file's trees go, or why it cannot have them. */
export interface AttrPlace {
  dir: string;
  mount: string | undefined;
  reason: string | undefined;
}

/**
 * Where the test's trees go: the system temp directory when its file system
 * keeps xattrs and ACLs (ext4 here), else (tmpfs without them) a small ext4
 * file system on a loop device under ROOT, made and removed by the test.
 * Called by each test file at its top level, not when this module loads: a
 * module cache shared between files would otherwise give two files one place,
 * and the first file's afterAll would remove the second's.
 */
export function prepareAttrPlace(): AttrPlace {
  const place: AttrPlace = { dir: '', mount: undefined, reason: undefined };
  if (!tools) return { ...place, reason: 'GNU tar, attr, acl or e2fsprogs missing' };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cairn-xattr-'));
  if (keepsAttrs(tmp)) return { ...place, dir: tmp };
  rmSync(tmp, { recursive: true, force: true });
  if (!isRoot) return { ...place, reason: 'the temp directory keeps no xattrs or ACLs, and a loop file system needs root' };
  mkdirSync(ROOT, { recursive: true });
  // Unique per test file: files may run in one process (one pid).
  const mount = mkdtempSync(path.join(ROOT, 'mnt-'));
  const image = `${mount}.img`;
  try {
    writeFileSync(image, '');
    truncateSync(image, 128 * MiB);
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', image], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop,user_xattr,acl', image, mount], { stdio: 'ignore' });
    place.mount = mount;
    place.dir = mkdtempSync(path.join(mount, 'cairn-xattr-'));
  } catch (error) {
    place.reason = `no loop file system with xattrs: ${String(error)}`;
  } finally {
    rmSync(image, { force: true }); // unlinked while mounted: gone with the unmount
  }
  return place;
}
export function removeFileSystem(place: AttrPlace): void {
  if (place.mount !== undefined) {
    execFileSync('umount', [place.mount], { stdio: 'ignore' });
    rmSync(place.mount, { recursive: true, force: true });
  } else if (place.dir !== '') rmSync(place.dir, { recursive: true, force: true });
}

/** A 6 MiB file with holes between four data runs, the last one ending the file (not on a block boundary). */
export function writeSparse(file: string): void {
  writeFileSync(file, '');
  truncateSync(file, 6 * MiB + 1000);
  const fd = openSync(file, 'r+');
  try {
    for (const [n, [at, length]] of [
      [0, 64 * KiB],
      [MiB, 128 * KiB],
      [3 * MiB + 256 * KiB, 64 * KiB],
      [6 * MiB - 64 * KiB, 64 * KiB + 1000],
    ].entries()) writeSync(fd, patterned(length!, 20 + n), 0, length!, at!);
  } finally {
    closeSync(fd);
  }
}

/** The tree: user xattrs (text, binary, large, an odd name) on files and a directory, access and default ACLs, a sparse file, plain entries. */
export function makeTree(source: string): void {
  const d = path.join(source, 'shared');
  mkdirSync(d);
  run('setfacl', ['-m', 'u:1000:rwx,g:2000:r-x', d]);
  run('setfacl', ['-d', '-m', 'u:1000:r-x,g:2000:rwx,o::---', d]);
  run('setfattr', ['-n', 'user.role', '-v', 'team share', d]);
  writeFileSync(path.join(source, 'notes.txt'), 'notes\n');
  // Past the unit's 1 MiB fragment size: what follows is in a second fragment.
  writeFileSync(path.join(source, 'a-filler.bin'), patterned(MiB + 100, 1));
  const tagged = path.join(source, 'tagged.bin');
  writeFileSync(tagged, patterned(5000, 3));
  run('setfattr', ['-n', 'user.text', '-v', 'hello', tagged]);
  run('setfattr', ['-n', 'user.binary', '-v', `0s${Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64')}`, tagged]);
  run('setfattr', ['-n', 'user.large', '-v', `0s${patterned(3000, 9).toString('base64')}`, tagged]);
  run('setfattr', ['-n', 'user.odd=name%25', '-v', 'x', tagged]);
  run('setfattr', ['-n', 'user.empty', tagged]);
  if (isRoot) run('setfattr', ['-n', 'trusted.origin', '-v', 'lab', tagged]);
  // Made inside the directory: inherits its default ACL as an access ACL.
  writeFileSync(path.join(d, 'inherited.txt'), 'inherits\n');
  writeFileSync(path.join(d, 'own-acl.txt'), 'own\n');
  run('setfacl', ['-b', path.join(d, 'own-acl.txt')]);
  run('setfacl', ['-m', 'u:1001:r--,m::r--', path.join(d, 'own-acl.txt')]);
  mkdirSync(path.join(d, 'sub'));
  writeSparse(path.join(source, 'sparse.img'));
  run('setfattr', ['-n', 'user.kind', '-v', 'disk image', path.join(source, 'sparse.img')]);
  symlinkSync('notes.txt', path.join(source, 'link'));
}

/** getfattr of every entry under `dir` (names relative), all namespaces, so ACLs (system.posix_acl_*) are compared too. */
export function xattrDump(dir: string): string {
  return run('getfattr', ['-R', '-d', '-m', '-', '-e', 'base64', '-h', '.'], dir);
}
export function aclDump(dir: string): string {
  return run('getfacl', ['-R', '-n', '-p', '.'], dir);
}

/** The data ranges of a file (filefrag's extents, logical bytes), joined where they touch. */
export function dataRanges(file: string): Array<[number, number]> {
  const out = run('filefrag', ['-v', '-b1', file]);
  const ranges: Array<[number, number]> = [];
  for (const match of out.matchAll(/^\s*\d+:\s+(\d+)\.\.\s*(\d+):/gm)) {
    const start = Number(match[1]);
    const end = Number(match[2]) + 1;
    const last = ranges.at(-1);
    if (last && last[1] === start) last[1] = end;
    else ranges.push([start, end]);
  }
  return ranges;
}

export function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const name = path.join(prefix, e.name);
    return e.isDirectory() ? [name, ...filesUnder(dir, name)] : [name];
  });
}
