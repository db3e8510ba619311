import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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
import { aclDump, dataRanges, filesUnder, KiB, makeTree, MiB, prepareAttrPlace, removeFileSystem, run, xattrDump } from './attr-tree.ts';

const place = prepareAttrPlace();

/**
 * Issue 11, done when: "a tree with sparse files, xattrs, ACLs restores
 * identical by `cairn restore` and by `tar --xattrs --acls -xf` of the
 * fragments; the sparse file keeps its holes" (this file: extended
 * attributes, ACLs and sparse files; FIFOs, devices, times, owners and
 * names have their own test). Everything is real: setfattr/setfacl make
 * the tree, Cairn backs it up and restores it, GNU tar extracts the raw
 * fragments, getfattr/getfacl/filefrag compare. The whole tree of the
 * done-when bullet, with the other kinds too, is full-tree.test.ts.
 */

describe.skipIf(place.reason !== undefined || place.dir === '')(`extended attributes, ACLs and sparse files${place.reason ? ` (skipped: ${place.reason})` : ''}`, () => {
  afterAll(() => removeFileSystem(place));

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
    const asNobody = (file: string, args: string[], input?: Uint8Array) => runTool('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', file, ...args], input);
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
    // Prepare: a PATH with xargs (which runs the attr tools) and no getfattr, as on a host without the attr package.
    const small = path.join(place.dir, 'small');
    mkdirSync(small);
    writeFileSync(path.join(small, 'a.txt'), 'a');
    const bin = mkdtempSync(path.join(place.dir, 'bin-'));
    symlinkSync(execFileSync('sh', ['-c', 'command -v xargs'], { encoding: 'utf8' }).trim(), path.join(bin, 'xargs'));
    const unit2 = path.join(place.dir, 'unit2');
    const task = backupTask(unit2, [small]);
    const savedPath = process.env.PATH;

    // Act
    process.env.PATH = bin;
    let result;
    try {
      result = await runBackup(task, { store: new FsObjectStore(unit2), openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    } finally {
      process.env.PATH = savedPath;
    }

    // Assess
    expect(result.statusCode).toBe(1);
    expect(result.unreadable.join('\n')).toMatch(/extended attributes and ACLs not read: cannot run getfattr \(xargs: getfattr: No such file or directory/);
  });
});
