import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runOffhostBackup } from '#agent/offhost/offhost-backup.ts';
import type { MapSummary } from '#agent/offhost/mapper.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, snapshotTree, type TreeNode } from '../helpers.ts';

/*
 * Offhost backup for real: an ext4 image (inline_data) on a loop device,
 * mounted, filled, synced and remounted read-only (the frozen image), then
 * backed up by extent map through the mover process and by a file-level
 * backup; both restore to the tree. The mover's device reads are checked
 * against the extents filefrag reports for the files, parsed here on its
 * own (not with the code under test).
 */

const ROOT = '/tmp/i11-offhost';
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;

function missingTool(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mkfs.ext4', 'filefrag', 'findmnt', 'blockdev', 'mount', 'umount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control)';
  return undefined;
}
const skip = missingTool();

const sh = (command: string, args: string[]): string => execFileSync(command, args, { encoding: 'utf8' }).trim();

/** The tree: inline small files, a fragmented file, sparse and preallocated files, plenty of ordinary ones, links. */
function buildTree(root: string): { inline: number } {
  const file = (relative: string, content: Buffer | string): void => {
    const absolute = path.join(root, relative);
    mkdirSync(path.dirname(absolute), { recursive: true });
    writeFileSync(absolute, content);
  };
  let inline = 0;
  for (let i = 0; i < 12; i++, inline++) file(`inline/small-${i}.txt`, `tiny file ${i}\n`);
  // Two files written in turns, each piece synced: their blocks interleave, so each has many extents.
  mkdirSync(path.join(root, 'frag'));
  const a = openSync(path.join(root, 'frag/interleaved-a.bin'), 'w');
  const b = openSync(path.join(root, 'frag/interleaved-b.bin'), 'w');
  for (let i = 0; i < 24; i++) {
    writeSync(a, patterned(24 * KiB, 100 + i));
    fsyncSync(a);
    writeSync(b, patterned(20 * KiB + 123, 200 + i));
    fsyncSync(b);
  }
  closeSync(a);
  closeSync(b);
  // Sparse: data at the start, in the middle and at the end, holes between; one ending in a hole; one above the large-file size.
  const sparse = (relative: string, size: number, pieces: Array<[number, number]>): void => {
    const fd = openSync(path.join(root, relative), 'w');
    for (const [offset, length] of pieces) writeSync(fd, patterned(length, offset % 97), 0, length, offset);
    closeSync(fd);
    execFileSync('truncate', ['-s', String(size), path.join(root, relative)]);
  };
  mkdirSync(path.join(root, 'sparse'));
  sparse('sparse/holes.bin', 3 * MiB + 100, [[0, 10_000], [MiB, 64 * KiB], [3 * MiB, 100]]);
  sparse('sparse/ends-in-hole.bin', 2 * MiB, [[4096, 5000]]);
  sparse('sparse/large-sparse.bin', 20 * MiB, [[0, 64 * KiB], [12 * MiB, 128 * KiB]]);
  // Preallocated: unwritten extents read as zeros; and blocks kept past the end of a file.
  execFileSync('fallocate', ['-l', String(256 * KiB), path.join(root, 'sparse/preallocated.bin')]);
  file('sparse/kept-past-end.bin', patterned(6000, 5));
  execFileSync('fallocate', ['-n', '-o', '8192', '-l', String(64 * KiB), path.join(root, 'sparse/kept-past-end.bin')]);
  // Plenty of ordinary files of many sizes.
  for (let i = 0; i < 150; i++) file(`plain/d${i % 7}/f${i}.bin`, patterned((i * 7919) % (96 * KiB), i));
  file('plain/big.bin', patterned(2 * MiB + 17, 3));
  file('plain/empty', '');
  symlinkSync('../plain/big.bin', path.join(root, 'inline/link-to-big'));
  linkSync(path.join(root, 'plain/big.bin'), path.join(root, 'plain/big-again.bin'));
  return { inline };
}

/** Each regular file's extents as device byte ranges, from `filefrag -v -e` (parsed here, independently), plus the inline files. */
function extentsOnDevice(root: string): { allowed: Array<[number, number]>; inlineFiles: string[] } {
  const allowed: Array<[number, number]> = [];
  const inlineFiles: string[] = [];
  const files = sh('find', [root, '-type', 'f']).split('\n');
  // One run for all the files; each table starts with its "File size of" line.
  let block = 0;
  let file = '';
  for (const line of sh('filefrag', ['-v', '-e', ...files]).split('\n')) {
    const size = /^File size of (.*) is \d+ \(\d+ blocks? of (\d+) bytes\)$/.exec(line);
    if (size) {
      file = size[1]!;
      block = Number(size[2]);
      continue;
    }
    const m = /^\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.\s*(\d+):/.exec(line);
    if (!m) continue;
    if (line.includes('inline')) inlineFiles.push(file);
    else allowed.push([Number(m[1]) * block, (Number(m[2]) + 1) * block]);
  }
  return { allowed, inlineFiles };
}

function inside(range: { offset: number; bytes: number }, allowed: Array<[number, number]>): boolean {
  // A read may span extents that touch on the device: walk the allowed intervals from its start.
  let at = range.offset;
  const end = range.offset + range.bytes;
  const sorted = [...allowed].sort((x, y) => x[0] - y[0]);
  for (const [from, to] of sorted) if (from <= at && at < to) at = Math.max(at, Math.min(to, end));
  return at >= end;
}

/**
 * Trees equal in names, type, mode, size, link target, content and file
 * mtimes within `toleranceMs` (inode numbers aside). Against the source
 * tree: 5 µs, as restore sets times through utimes' floating-point seconds
 * (a double holds today's time to about 0.25 µs, so the nanoseconds the
 * header keeps come back a microsecond or so off); between two restores of
 * the same headers: exactly.
 */
function expectSameContent(actual: Map<string, TreeNode>, expected: Map<string, TreeNode>, toleranceMs = 0.005): void {
  const strip = (tree: Map<string, TreeNode>): Array<[string, unknown]> =>
    [...tree.entries()].filter(([relative]) => relative !== '').map(([relative, n]) => [relative, { type: n.type, mode: n.mode, size: n.size, target: n.target, sha256: n.content && createHash('sha256').update(n.content).digest('hex') }]);
  expect(strip(actual)).toEqual(strip(expected));
  for (const [relative, want] of expected) {
    if (want.type === 'directory') continue;
    expect(Math.abs(actual.get(relative)!.mtimeMs - want.mtimeMs), `${relative} mtime`).toBeLessThanOrEqual(toleranceMs);
  }
}

describe.skipIf(Boolean(skip))(`offhost backup by extent map of an ext4 image on a loop device${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = path.join(ROOT, `test-${process.pid}`);
  const image = path.join(dir, 'ext4.img');
  const mount = path.join(dir, 'mnt');
  const tree = path.join(mount, 'tree');
  let device = '';
  let mounted = false;
  let inlineCount = 0;
  let source: Map<string, TreeNode>;
  let fileTask: BackupTask;
  let fileResult: BackupTaskResult;
  let offTask: BackupTask;
  let offResult: BackupTaskResult;
  let map: MapSummary;
  let reads: { bytes: number; reads: number; ranges: Array<{ offset: number; bytes: number }> };

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(mount, { recursive: true });
    execFileSync('truncate', ['-s', '96M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'inline_data', '-b', '4096', '-I', '256', image]);
    device = sh('losetup', ['-f', '--show', image]);
    execFileSync('mount', [device, mount]);
    mounted = true;
    ({ inline: inlineCount } = buildTree(tree));
    // The frozen image: everything on the device, then read-only.
    execFileSync('sync', ['-f', mount]);
    execFileSync('mount', ['-o', 'remount,ro', mount]);
    source = snapshotTree(tree);

    fileTask = backupTask(path.join(dir, 'unit-file'), [tree], { backupId: 'host1_1700000001' });
    fileResult = await runBackup(fileTask, { store: new FsObjectStore(path.join(dir, 'unit-file')), reporter: recordingReporter(), now: () => new Date() });

    offTask = backupTask(path.join(dir, 'unit-offhost'), [tree], { backupId: 'host1_1700000002' });
    const rangesOut = path.join(dir, 'ranges.json');
    const reporter = recordingReporter();
    ({ result: offResult, map } = await runOffhostBackup({
      task: offTask,
      readRoot: mount,
      device,
      workDir: path.join(dir, 'work'),
      reporter,
      mover: { command: [process.execPath, path.join(REPO, 'bin/cairn-agent.js'), 'mover'], env: { ...process.env, CAIRN_FROM_SOURCE: '1' }, rangesOut },
    }));
    reads = JSON.parse(readFileSync(rangesOut, 'utf8')) as typeof reads;
  }, 120_000);

  afterAll(() => {
    if (mounted) spawnSync('umount', [mount]);
    if (device) spawnSync('losetup', ['-d', device]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('maps the fragmented, sparse and ordinary files to device ranges and sends the inline ones to a file read, and says how many', () => {
    expect(inlineCount).toBeGreaterThan(0);
    expect(map.fallback.inline).toBe(inlineCount);
    expect(offResult.offhost).toMatchObject({ fallbackFiles: inlineCount, fallbackReasons: { inline: inlineCount } });
    // Every other regular file is read from the device (the later hard link is not read at all).
    const regular = [...source.values()].filter((n) => n.type === 'file').length;
    expect(offResult.offhost!.deviceFiles).toBe(regular - inlineCount - 1);
    expect(offResult.statusCode).toBe(0);
    // The interleaved files really are fragmented.
    const fragExtents = sh('filefrag', [path.join(tree, 'frag/interleaved-a.bin')]);
    expect(Number(/(\d+) extents? found/.exec(fragExtents)![1])).toBeGreaterThan(3);
  });

  it('read only mapped ranges of the device, and no more bytes than the map names', () => {
    const { allowed, inlineFiles } = extentsOnDevice(tree);
    expect(inlineFiles.length).toBe(inlineCount);
    expect(reads.ranges.length).toBeGreaterThan(0);
    for (const range of reads.ranges) expect(inside(range, allowed), `device read ${range.offset}+${range.bytes} outside every file extent`).toBe(true);
    expect(reads.bytes).toBe(map.mappedBytes);
    expect(offResult.offhost!.deviceBytesRead).toBe(map.mappedBytes);
    // The holes of the sparse files were not read: far fewer bytes than the files' sizes.
    const sizes = [...source.values()].filter((n) => n.type === 'file').reduce((sum, n) => sum + n.size, 0);
    expect(reads.bytes).toBeLessThan(sizes - 20 * MiB);
  });

  it('restores identical to the file-level backup of the same frozen image, and to the tree', async () => {
    const fileTarget = path.join(dir, 'restore-file');
    const offTarget = path.join(dir, 'restore-offhost');
    await restoreImage({ store: new FsObjectStore(path.join(dir, 'unit-file')), image: catalogImage(fileTask, fileResult), targetDir: fileTarget });
    const restored = await restoreImage({ store: new FsObjectStore(path.join(dir, 'unit-offhost')), image: catalogImage(offTask, offResult), targetDir: offTarget });
    expect(restored.refused).toEqual([]);
    const fromFile = snapshotTree(path.join(fileTarget, tree));
    const fromOffhost = snapshotTree(path.join(offTarget, tree));
    expectSameContent(fromOffhost, source);
    expectSameContent(fromOffhost, fromFile, 0);
    // Holes: the offhost image stores every mapped file with holes as a sparse member (the map says where its data is), so each
    // restores with its holes; the file-level one does so for files of 16 MiB and more (whose zero blocks it finds by reading them).
    const allocated = (root: string, relative: string): number => Number(lstatSync(path.join(root, tree, relative), { bigint: true }).blocks) * 512;
    for (const relative of ['sparse/holes.bin', 'sparse/ends-in-hole.bin', 'sparse/large-sparse.bin', 'sparse/preallocated.bin']) {
      expect(allocated(offTarget, relative), `${relative} restored with its holes`).toBeLessThan(source.get(relative)!.size / 2);
    }
    expect(allocated(fileTarget, 'sparse/large-sparse.bin')).toBeLessThan(MiB);
    // Hard links stay links.
    expect(lstatSync(path.join(offTarget, tree, 'plain/big-again.bin')).ino).toBe(lstatSync(path.join(offTarget, tree, 'plain/big.bin')).ino);
    expect(offResult.fileCount).toBe(fileResult.fileCount);
  });

  it('writes fragments GNU tar extracts to the same tree (sparse members with their holes)', () => {
    const fragments = sh('find', [path.join(dir, 'unit-offhost'), '-name', 'fragment-*.tar']).split('\n').sort();
    expect(fragments.length).toBeGreaterThan(0);
    const target = path.join(dir, 'tar-offhost');
    mkdirSync(target);
    for (const fragment of fragments) execFileSync('tar', ['-xf', fragment, '-C', target]);
    expectSameContent(snapshotTree(path.join(target, tree)), source);
    expect(Number(lstatSync(path.join(target, tree, 'sparse/holes.bin'), { bigint: true }).blocks) * 512).toBeLessThan(MiB);
  });

  it('stops the mover when the job is cancelled: 150, and the mover removes what it wrote', async () => {
    const unit = path.join(dir, 'unit-cancel');
    const stop = new AbortController();
    // The mover's first heartbeat comes as its image starts: cancel then, while it is writing.
    const reporter = { progress: async () => undefined, heartbeat: async () => stop.abort() };
    const task = backupTask(unit, [tree], { backupId: 'host1_1700000004' });
    const failure = await failureOf(
      runOffhostBackup({ task, readRoot: mount, device, workDir: path.join(dir, 'work'), reporter, signal: stop.signal, mover: { command: [process.execPath, path.join(REPO, 'bin/cairn-agent.js'), 'mover'], env: { ...process.env, CAIRN_FROM_SOURCE: '1' } } }),
    );
    expect(failure.statusCode).toBe(150);
    const left = existsSync(unit) ? sh('find', [unit, '-type', 'f']) : '';
    expect(left.split('\n').filter((f) => /fragment-|manifest|index/.test(f))).toEqual([]);
    // The agent's map and job file are gone too.
    expect(existsSync(path.join(dir, 'work', `${task.backupId}.map.ndjson`))).toBe(false);
  });

  it('ends with 50 when the mover dies without a word (killed -9), naming what it said on stderr', async () => {
    const task = backupTask(path.join(dir, 'unit-killed'), [tree], { backupId: 'host1_1700000006' });
    const failure = await failureOf(runOffhostBackup({ task, readRoot: mount, device, workDir: path.join(dir, 'work'), reporter: recordingReporter(), mover: { command: ['sh', '-c', 'echo reading the device >&2; kill -9 $$'] } }));
    expect(failure.statusCode).toBe(50);
    expect(failure.message).toMatch(/the data mover ended .*without a result: reading the device/);
  });

  it('refuses a file system that is not frozen (mounted read-write) with 156, before anything is written', async () => {
    execFileSync('mount', ['-o', 'remount,rw', mount]);
    try {
      const task = backupTask(path.join(dir, 'unit-rw'), [tree], { backupId: 'host1_1700000003' });
      const failure = await failureOf(runOffhostBackup({ task, readRoot: mount, device, workDir: path.join(dir, 'work'), reporter: recordingReporter(), mover: { command: ['false'] } }));
      expect(failure.statusCode).toBe(156);
      expect(failure.message).toMatch(/read-write/);
      expect(existsSync(path.join(dir, 'unit-rw'))).toBe(false);
    } finally {
      execFileSync('mount', ['-o', 'remount,ro', mount]);
    }
  });
});

const noBtrfs = skip ?? (spawnSync('sh', ['-c', 'command -v mkfs.btrfs']).status === 0 ? undefined : 'mkfs.btrfs is missing');

describe.skipIf(Boolean(noBtrfs))(`offhost backup of a btrfs image${noBtrfs ? ` (skipped: ${noBtrfs})` : ''}`, () => {
  it('is refused with 156 naming btrfs: its extents are addresses in its own logical space, not device offsets', async () => {
    const dir = path.join(ROOT, `btrfs-${process.pid}`);
    const mount = path.join(dir, 'mnt');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(mount, { recursive: true });
    execFileSync('truncate', ['-s', '128M', path.join(dir, 'btrfs.img')]);
    execFileSync('mkfs.btrfs', ['-q', '-f', path.join(dir, 'btrfs.img')]);
    const device = sh('losetup', ['-f', '--show', path.join(dir, 'btrfs.img')]);
    let mounted = false;
    try {
      execFileSync('mount', ['-o', 'ro', device, mount]);
      mounted = true;
      const task = backupTask(path.join(dir, 'unit'), [mount], { backupId: 'host1_1700000005' });
      const failure = await failureOf(runOffhostBackup({ task, readRoot: mount, device, workDir: path.join(dir, 'work'), reporter: recordingReporter(), mover: { command: ['false'] } }));
      expect(failure.statusCode).toBe(156);
      expect(failure.message).toMatch(/it is btrfs/);
    } finally {
      if (mounted) spawnSync('umount', [mount]);
      spawnSync('losetup', ['-d', device]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
