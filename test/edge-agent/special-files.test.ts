import { keyOf } from './forge.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupTaskResult, IndexEntry } from '#core/model/task.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, recordingReporter, tempDir } from './helpers.ts';
import { fsPathOf, nameFromBytes } from '#core/model/file-name.ts';
import { buildTree, expectSameTree, snapshot, type Node } from './special-tree.ts';

const GNU_TAR = '/usr/bin/tar';
const hasGnuTar = existsSync(GNU_TAR) && execFileSync(GNU_TAR, ['--version']).toString().includes('GNU tar');
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('backup and restore of FIFOs, devices, exact times and owners (needs root for mknod and chown)', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let result: BackupTaskResult;
  let image: Image;
  let expected: Map<string, Node>;
  let socketPath: string;
  let server: net.Server;

  beforeAll(async () => {
    source = tempDir('special-src');
    unit = tempDir('special-unit');
    scratch = tempDir('special-scratch');
    store = new FsObjectStore(unit.dir);
    const root = path.join(source.dir, 'tree');
    mkdirSync(root);
    ({ socket: socketPath } = buildTree(root));
    // A socket only exists while something has it bound.
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    execFileSync('touch', ['-h', '-d', '@1300000000.000000001', '--', root]);
    // A minor above what tar-stream's 6-digit header field holds cannot be kept: listed, not backed up.
    expected = snapshot(root);
    expected.delete('dev/big-minor');
    const task = backupTask(unit.dir, [root]);
    result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
    image = catalogImage(task, result);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    source.cleanup();
    unit.cleanup();
    scratch.cleanup();
  });

  it('lists the socket and the device it cannot keep as skipped and ends with status 1, never a silent 0', () => {
    expect(result.statusCode).toBe(1);
    expect(result.unreadable).toEqual([
      `${path.dirname(socketPath)}/dev/big-minor: device number 136:300000 does not fit a tar header (at most 262143 each)`,
      `${socketPath}: socket not backed up (a socket belongs to the program that bound it; GNU tar skips sockets too)`,
    ]);
  });

  it('indexes FIFOs and devices with their type and device number', async () => {
    const entries = new Map<string, IndexEntry>();
    for await (const entry of readIndex(store, result.indexKey, result.indexSha256)) entries.set(path.relative(path.join(source.dir, 'tree'), entry.path), entry);
    expect(entries.get('dev/fifo')).toMatchObject({ type: 'fifo', size: 0 });
    expect(entries.get('dev/null-like')).toMatchObject({ type: 'character-device', device: { major: 1, minor: 3 } });
    expect(entries.get('dev/loop-like')).toMatchObject({ type: 'block-device', device: { major: 7, minor: 0 } });
    expect(entries.has('dev/big-minor')).toBe(false);
    expect(entries.has('socket')).toBe(false);
  });

  it('restores every kind of file identical by cairn restore: type, device number, mode, owner, mtime to the nanosecond, bytes', async () => {
    const target = path.join(scratch.dir, 'cairn');
    const restored = await restoreImage({ store, image, targetDir: target });
    expect(restored.refused).toEqual([]);
    expectSameTree(snapshot(path.join(target, source.dir, 'tree')), expected);
  });

  it('restores a name that is not UTF-8 asked for by path, alone, with its bytes', async () => {
    const target = path.join(scratch.dir, 'one-name');
    const wanted = path.join(source.dir, 'tree', nameFromBytes(Buffer.from('names/caf\xe9-\xff', 'latin1')));
    const restored = await restoreImage({ store, image, targetDir: target, paths: [wanted] });
    expect(restored.refused).toEqual([]);
    const names = readdirSync(path.join(target, source.dir, 'tree', 'names'), { encoding: 'buffer' });
    expect(names.map((n) => n.toString('latin1'))).toEqual(['caf\xe9-\xff']);
    expect(readFileSync(fsPathOf(path.join(target, wanted)), 'utf8')).toBe('latin-1 name\n');
  });

  it('sets exact times with touch where there is no python3', async () => {
    const target = path.join(scratch.dir, 'cairn-touch');
    const restored = await restoreImage({ store, image, targetDir: target, exactTimes: { python: false } });
    expect(restored.refused).toEqual([]);
    expectSameTree(snapshot(path.join(target, source.dir, 'tree')), expected);
  });

  it.skipIf(!hasGnuTar)('restores the same tree by GNU tar reading the raw fragments', () => {
    const target = path.join(scratch.dir, 'gnu');
    mkdirSync(target);
    const listing: string[] = [];
    for (const fragment of result.fragments) {
      const file = path.join(unit.dir, keyOf(fragment));
      const listed = spawnSync(GNU_TAR, ['-tvf', file], { encoding: 'utf8' });
      expect({ status: listed.status, stderr: listed.stderr }).toEqual({ status: 0, stderr: '' });
      listing.push(...listed.stdout.split('\n'));
      // GNU tar warns of (and still sets) times before 1970 and in the future.
      const extracted = spawnSync(GNU_TAR, ['--warning=no-timestamp', '-xf', file, '-C', target], { encoding: 'utf8' });
      expect({ status: extracted.status, stderr: extracted.stderr }).toEqual({ status: 0, stderr: '' });
    }
    // Owner names travel with the members (tar -tv shows them).
    expect(listing.find((line) => line.endsWith('/owners/daemon'))).toMatch(/^-rw-r--r-- daemon\/daemon /);
    expect(listing.find((line) => line.endsWith('/owners/nameless'))).toMatch(/^-rw-r--r-- 54321\/65432 /);
    expectSameTree(snapshot(path.join(target, source.dir, 'tree')), expected);
  });
});

describe('a file stored as pieces under a name that is not UTF-8', () => {
  let work: ReturnType<typeof tempDir>;
  afterAll(() => work?.cleanup());

  it('restores with its bytes and its name', async () => {
    // Prepare: 2.5 MiB under a Latin-1 name, pieces of 1 MiB (each piece's GNU.volume.filename holds the raw name too)
    work = tempDir('special-pieces');
    const root = path.join(work.dir, 'tree');
    mkdirSync(root);
    const name = path.join(root, nameFromBytes(Buffer.from('gro\xdf-\xe9', 'latin1')));
    const content = Buffer.alloc(2.5 * 1024 * 1024, 7);
    content.write('start', 0);
    writeFileSync(fsPathOf(name), content);
    const unitDir = path.join(work.dir, 'unit');
    mkdirSync(unitDir);
    const store = new FsObjectStore(unitDir);
    const task = backupTask(unitDir, [root], { storageUnit: { name: 'disk1', kind: 'disk', path: unitDir, fragmentSizeBytes: 1024 * 1024, pieceBytes: 1024 * 1024 } });

    // Act
    const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
    const target = path.join(work.dir, 'restored');
    const restored = await restoreImage({ store, image: catalogImage(task, result), targetDir: target });

    // Assess
    expect(result.statusCode).toBe(0);
    expect(result.fragments.length).toBeGreaterThan(1);
    expect(restored.refused).toEqual([]);
    expect(restored.failures).toEqual([]);
    expect(readdirSync(path.join(target, root), { encoding: 'buffer' }).map((n) => n.toString('latin1'))).toEqual(['gro\xdf-\xe9']);
    expect(readFileSync(fsPathOf(path.join(target, name))).equals(content)).toBe(true);
  });
});
