import { keyOf } from './forge.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
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
import { escapedName, fsPathOf, nameFromBytes } from '#core/model/file-name.ts';

const GNU_TAR = '/usr/bin/tar';
const hasGnuTar = existsSync(GNU_TAR) && execFileSync(GNU_TAR, ['--version']).toString().includes('GNU tar');
const isRoot = process.getuid?.() === 0;

/**
 * A tree of the kinds of file the reader keeps besides data, directories
 * and links (issue 11, item 5): a FIFO, a character and a block device,
 * nanosecond, pre-1970 and post-2100 mtimes, owners with and without names,
 * and a socket, which is listed as skipped and makes the status 1.
 */
function buildTree(root: string): { socket: string } {
  const at = (relative: string): string => path.join(root, relative);
  const touch = (relative: string, time: string): void => void execFileSync('touch', ['-h', '-d', `@${time}`, '--', at(relative)]);
  mkdirSync(at('dev'));
  execFileSync('mkfifo', ['-m', '640', at('dev/fifo')]);
  execFileSync('mknod', ['-m', '620', at('dev/null-like'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '660', at('dev/loop-like'), 'b', '7', '0']);
  execFileSync('mknod', ['-m', '600', at('dev/big-minor'), 'c', '136', '300000']);
  mkdirSync(at('times'));
  writeFileSync(at('times/ns'), 'nanoseconds\n');
  writeFileSync(at('times/before-1970'), 'pre-epoch\n');
  writeFileSync(at('times/year-2300'), 'far future\n');
  writeFileSync(at('times/whole-second'), 'whole\n');
  symlinkSync('ns', at('times/link-before-1970'));
  touch('times/ns', '1700000000.123456789');
  touch('times/before-1970', '-1234567890.987654321');
  touch('times/year-2300', '10413792000.000000001');
  touch('times/whole-second', '1600000000');
  touch('times/link-before-1970', '-86400.5');
  touch('dev/fifo', '1650000000.111111111');
  touch('dev/null-like', '-1.000000001');
  mkdirSync(at('owners'));
  writeFileSync(at('owners/daemon'), 'named owner\n');
  chownSync(at('owners/daemon'), 1, 1);
  writeFileSync(at('owners/nameless'), 'an id without a name\n');
  chownSync(at('owners/nameless'), 54321, 65432);
  execFileSync('mknod', ['-m', '600', at('owners/device-owned'), 'c', '1', '5']);
  chownSync(at('owners/device-owned'), 1, 2);
  // Names that are not UTF-8 (Latin-1 bytes, a cut UTF-8 sequence), a symlink whose target is not, a hard link to such a name.
  const latin1 = nameFromBytes(Buffer.from('names/caf\xe9-\xff', 'latin1'));
  const cut = nameFromBytes(Buffer.concat([Buffer.from('names/dir-'), Buffer.from([0xe2, 0x82])]));
  mkdirSync(at('names'));
  writeFileSync(fsPathOf(at(latin1)), 'latin-1 name\n');
  mkdirSync(fsPathOf(at(cut)));
  writeFileSync(fsPathOf(at(`${cut}/inside \\x41 \uFFFD.txt`)), 'inside a directory whose name is cut UTF-8\n');
  symlinkSync(fsPathOf(nameFromBytes(Buffer.from('caf\xe9-\xff', 'latin1'))), fsPathOf(at('names/link-to-latin1')));
  linkSync(fsPathOf(at(latin1)), fsPathOf(at(nameFromBytes(Buffer.from('names/hard-\xfe', 'latin1')))));
  touch('owners', '1500000000.5');
  touch('dev', '1400000000.000000999');
  touch('times', '-10.25');
  return { socket: at('socket') };
}

interface Node {
  type: string;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  mtimeNs: bigint;
  size: bigint;
  nlink: bigint;
  content?: string;
  target?: string;
}

/** Everything under `root` that a restore must give back exactly, sockets left out. */
function snapshot(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const visit = (relative: string): void => {
    const absolute = fsPathOf(path.join(root, relative));
    const stats: BigIntStats = lstatSync(absolute, { bigint: true });
    if (stats.isSocket()) return;
    const node: Node = { type: typeOf(stats), mode: stats.mode, uid: stats.uid, gid: stats.gid, rdev: stats.isCharacterDevice() || stats.isBlockDevice() ? stats.rdev : 0n, mtimeNs: stats.mtimeNs, size: stats.isFile() ? stats.size : 0n, nlink: stats.nlink };
    if (stats.isFile()) node.content = readFileSync(absolute, 'latin1');
    if (stats.isSymbolicLink()) node.target = escapedName(nameFromBytes(readlinkSync(absolute, { encoding: 'buffer' })));
    out.set(escapedName(relative) || '.', node);
    if (stats.isDirectory()) for (const name of readdirSync(absolute, { encoding: 'buffer' }).map(nameFromBytes).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return out;
}

function typeOf(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'character-device';
  if (stats.isBlockDevice()) return 'block-device';
  if (stats.isSymbolicLink()) return 'symlink';
  return stats.isDirectory() ? 'directory' : 'file';
}

/** Both trees entry by entry, so a failure names the entry and the field. */
function expectSameTree(actual: Map<string, Node>, expected: Map<string, Node>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [relative, want] of expected) {
    expect({ relative, ...actual.get(relative) }).toEqual({ relative, ...want });
  }
}

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
