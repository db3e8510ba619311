import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { XattrReader, runTool } from '#agent/reader/xattr-reader.ts';
import { AttrRestorer, runWithInput } from '#agent/restore/attr-restorer.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { indexLines, keyOf } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter } from './helpers.ts';

/**
 * Issue 11, done when: "a tree with sparse files, xattrs, ACLs restores
 * identical by `cairn restore` and by `tar --xattrs --acls -xf` of the
 * fragments; the sparse file keeps its holes" (this file: extended
 * attributes, ACLs and sparse files; FIFOs, devices, times, owners and
 * names have their own test). Everything is real: setfattr/setfacl make
 * the tree, Cairn backs it up and restores it, GNU tar extracts the raw
 * fragments, getfattr/getfacl/filefrag compare.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const ROOT = '/tmp/i11-xattr-acl';

function run(file: string, args: string[], cwd?: string): string {
  return execFileSync(file, args, { encoding: 'utf8', cwd, env: { ...process.env, LC_ALL: 'C' } });
}

function works(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const tools = works('tar', ['--version']) && works('getfattr', ['--version']) && works('setfacl', ['--version']) && works('filefrag', ['-V']);
const isRoot = process.getuid?.() === 0;

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

/**
 * Where the test's trees go: the system temp directory when its file system
 * keeps xattrs and ACLs (ext4 here), else (tmpfs without them) a small ext4
 * file system on a loop device under ROOT, made and removed by the test.
 */
const place = { dir: '', mount: undefined as string | undefined, reason: undefined as string | undefined };
function prepareFileSystem(): void {
  if (!tools) return void (place.reason = 'GNU tar, attr, acl or e2fsprogs missing');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cairn-xattr-'));
  if (keepsAttrs(tmp)) return void (place.dir = tmp);
  rmSync(tmp, { recursive: true, force: true });
  if (!isRoot) return void (place.reason = 'the temp directory keeps no xattrs or ACLs, and a loop file system needs root');
  mkdirSync(ROOT, { recursive: true });
  const image = path.join(ROOT, `fs-${process.pid}.img`);
  const mount = path.join(ROOT, `mnt-${process.pid}`);
  try {
    writeFileSync(image, '');
    truncateSync(image, 128 * MiB);
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', image], { stdio: 'ignore' });
    mkdirSync(mount, { recursive: true });
    execFileSync('mount', ['-o', 'loop,user_xattr,acl', image, mount], { stdio: 'ignore' });
    place.mount = mount;
    place.dir = mkdtempSync(path.join(mount, 'cairn-xattr-'));
  } catch (error) {
    place.reason = `no loop file system with xattrs: ${String(error)}`;
  } finally {
    rmSync(image, { force: true }); // unlinked while mounted: gone with the unmount
  }
}
function removeFileSystem(): void {
  if (place.mount !== undefined) {
    execFileSync('umount', [place.mount], { stdio: 'ignore' });
    rmSync(place.mount, { recursive: true, force: true });
  } else if (place.dir !== '') rmSync(place.dir, { recursive: true, force: true });
}
prepareFileSystem();

/** A 6 MiB file with holes between four data runs, the last one ending the file (not on a block boundary). */
function writeSparse(file: string): void {
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
function makeTree(source: string): void {
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
function xattrDump(dir: string): string {
  return run('getfattr', ['-R', '-d', '-m', '-', '-e', 'base64', '-h', '.'], dir);
}
function aclDump(dir: string): string {
  return run('getfacl', ['-R', '-n', '-p', '.'], dir);
}

/** The data ranges of a file (filefrag's extents, logical bytes), joined where they touch. */
function dataRanges(file: string): Array<[number, number]> {
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

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const name = path.join(prefix, e.name);
    return e.isDirectory() ? [name, ...filesUnder(dir, name)] : [name];
  });
}

describe.skipIf(place.reason !== undefined || place.dir === '')(`extended attributes, ACLs and sparse files${place.reason ? ` (skipped: ${place.reason})` : ''}`, () => {
  afterAll(() => removeFileSystem());

  it('restores them identical by cairn restore and by tar --xattrs --acls -xf of the fragments; the sparse file keeps its holes', async () => {
    // Prepare
    const source = path.join(place.dir, 'source');
    const unit = path.join(place.dir, 'unit');
    mkdirSync(source);
    makeTree(source);
    const store = new FsObjectStore(unit);
    const task = backupTask(unit, [source]);

    // Act
    const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const cairn = path.join(place.dir, 'cairn');
    const restored = await restoreImage({ store, image, targetDir: cairn });
    const gnu = path.join(place.dir, 'gnu');
    mkdirSync(gnu);
    // GNU tar restores user.* attributes only unless told to include the others (trusted.* here, as root).
    const warnings = image.copies[0]!.fragments.map((fragment) => spawnSync('tar', ['--xattrs', '--xattrs-include=*', '--acls', '-xpf', path.join(unit, keyOf(fragment)), '-C', gnu], { encoding: 'utf8' })).map((r) => `${r.status}${r.stderr}`);

    // Assess: a clean job; every restore equal to the source in bytes, xattrs and ACLs.
    expect(result.statusCode).toBe(0);
    expect(result.unreadable).toEqual([]);
    expect(restored.refused).toEqual([]);
    expect(warnings.every((w) => w === '0')).toBe(true);
    expect(image.copies[0]!.fragments.length).toBeGreaterThan(1);
    const lines = await indexLines(store, image);
    expect(lines.find((l) => l.path === path.join(source, 'tagged.bin'))?.xattrs?.['user.binary']).toBe(Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64'));
    expect(lines.find((l) => l.path === path.join(source, 'shared'))?.acl?.default).toContain('user:1000:r-x\n');
    const expectedXattrs = xattrDump(source);
    const expectedAcls = aclDump(source);
    expect(expectedXattrs).toContain('user.odd\\075name%25=');
    expect(expectedAcls).toContain('default:group:2000:rwx');
    for (const copy of [path.join(cairn, source), path.join(gnu, source)]) {
      expect(xattrDump(copy)).toBe(expectedXattrs);
      expect(aclDump(copy)).toBe(expectedAcls);
      for (const name of filesUnder(source)) {
        const from = path.join(source, name);
        if (!statSync(from).isFile()) continue;
        expect(readFileSync(path.join(copy, name)).equals(readFileSync(from)), name).toBe(true);
      }
      const sparse = path.join(copy, 'sparse.img');
      expect(statSync(sparse).size).toBe(6 * MiB + 1000);
      expect(statSync(sparse).blocks).toBeLessThanOrEqual(statSync(path.join(source, 'sparse.img')).blocks + 16);
      expect(dataRanges(sparse)).toEqual(dataRanges(path.join(source, 'sparse.img')));
    }
    expect(lines.find((l) => l.path === path.join(source, 'sparse.img'))?.blockMap).toBeDefined();

    // Act: one file, read by range.
    const one = path.join(place.dir, 'one');
    const single = await restoreImage({ store, image, targetDir: one, paths: [path.join(source, 'tagged.bin')] });

    // Assess
    expect(single.refused).toEqual([]);
    expect(run('getfattr', ['-d', '-m', '-', '-e', 'base64', 'tagged.bin'], path.join(one, source))).toBe(run('getfattr', ['-d', '-m', '-', '-e', 'base64', 'tagged.bin'], source));
  });

  it('sets attributes in batches past 1,024 members, and a default ACL only after the files under it', async () => {
    // Prepare: 1,100 files with an attribute each in a directory whose default ACL came after them (they have none).
    const many = path.join(place.dir, 'many');
    const dir = path.join(many, 'acl-dir');
    mkdirSync(dir, { recursive: true });
    const names = Array.from({ length: 1100 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    for (const name of names) writeFileSync(path.join(dir, name), name);
    execFileSync('setfattr', ['--restore=-'], { input: names.map((n) => `# file: ${path.join(dir, n)}\nuser.n=0s${Buffer.from(n).toString('base64')}\n\n`).join('') });
    run('setfacl', ['-d', '-m', 'u:1000:rwx', dir]);
    const unitMany = path.join(place.dir, 'unit-many');
    const task = backupTask(unitMany, [many], { backupId: 'host1_1700000100' });
    const store = new FsObjectStore(unitMany);

    // Act
    const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    const target = path.join(place.dir, 'many-restored');
    const restored = await restoreImage({ store, image: catalogImage(task, result), targetDir: target });

    // Assess
    expect(result.statusCode).toBe(0);
    expect(restored.refused).toEqual([]);
    expect(xattrDump(path.join(target, many))).toBe(xattrDump(many));
    // Files made after the directory's default ACL was set would have inherited it: they must have none, as in the source.
    expect(aclDump(path.join(target, many))).toBe(aclDump(many));
  });

  it('sets the attributes of a file stored as pieces once, after its last piece', async () => {
    // Prepare: 3.5 MiB in pieces of 1 MiB.
    const pieced = path.join(place.dir, 'pieced');
    mkdirSync(pieced);
    const file = path.join(pieced, 'big.bin');
    writeFileSync(file, patterned(3 * MiB + 512 * KiB, 5));
    run('setfattr', ['-n', 'user.parts', '-v', 'four', file]);
    run('setfacl', ['-m', 'u:1000:r--', file]);
    const unitPieced = path.join(place.dir, 'unit-pieced');
    const task = backupTask(unitPieced, [pieced], { backupId: 'host1_1700000200', storageUnit: { name: 'disk1', kind: 'disk', path: unitPieced, fragmentSizeBytes: MiB, pieceBytes: MiB } });
    const store = new FsObjectStore(unitPieced);

    // Act
    const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const target = path.join(place.dir, 'pieced-restored');
    const restored = await restoreImage({ store, image, targetDir: target });

    // Assess
    expect((await indexLines(store, image)).find((l) => l.path === file)?.pieces?.length).toBeGreaterThan(1);
    expect(restored.refused).toEqual([]);
    expect(readFileSync(path.join(target, file)).equals(readFileSync(file))).toBe(true);
    expect(xattrDump(path.join(target, pieced))).toBe(xattrDump(pieced));
    expect(aclDump(path.join(target, pieced))).toBe(aclDump(pieced));
  });

  it('lists a file whose attributes cannot be read, and the job ends 1, not 0', async () => {
    // Prepare: getfattr run as nobody cannot enter a directory only root may (a real permission error, from the real tool).
    const closed = path.join(place.dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    writeFileSync(path.join(closed, 'secret'), 'x');
    const asNobody = (file: string, args: string[]) => runTool('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', file, ...args]);
    const reader = new XattrReader(asNobody);

    // Act
    reader.listed(closed, ['secret']);
    const found = await reader.of(path.join(closed, 'secret'));

    // Assess
    expect(found.problem).toMatch(/extended attributes not read \(getfattr: Permission denied\)/);
  });

  it('lists what setfattr and setfacl could not set, by path', async () => {
    // Prepare: the tools run as nobody, on a file in a directory only root may enter (real errors from the real tools).
    const closed = path.join(place.dir, 'closed-target');
    mkdirSync(closed, { mode: 0o700 });
    const file = path.join(closed, 'f');
    writeFileSync(file, 'x');
    const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const restorer = new AttrRestorer((tool, args, input) => runWithInput('setpriv', [...nobody, tool, ...args], input));
    restorer.add(file, { xattrs: [{ name: 'user.a', value: Buffer.from('1') }], acl: { access: 'user::rw-\nuser:1000:r--\ngroup::r--\nmask::r--\nother::---\n' } }, 0o640);

    // Act
    const problems = await restorer.apply();

    // Assess
    expect(problems).toEqual([`${file}: extended attributes not restored (setfattr: Permission denied)`, `${file}: ACL not restored (setfacl: Permission denied)`]);
  });

  it('says so, with status 1, when getfattr cannot run at all', async () => {
    // Prepare
    const small = path.join(place.dir, 'small');
    mkdirSync(small);
    writeFileSync(path.join(small, 'a.txt'), 'a');
    const unit2 = path.join(place.dir, 'unit2');
    const task = backupTask(unit2, [small]);
    const savedPath = process.env.PATH;

    // Act
    process.env.PATH = '/nonexistent';
    let result;
    try {
      result = await runBackup(task, { store: new FsObjectStore(unit2), openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    } finally {
      process.env.PATH = savedPath;
    }

    // Assess
    expect(result.statusCode).toBe(1);
    expect(result.unreadable.join('\n')).toMatch(/extended attributes and ACLs not read: cannot run getfattr \(ENOENT/);
  });
});
