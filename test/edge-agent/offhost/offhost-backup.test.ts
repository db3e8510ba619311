import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runOffhostBackup } from '#agent/offhost/offhost-backup.ts';
import { mapFrozenImage, type MapSummary } from '#agent/offhost/mapper.ts';
import { excludeMatcher } from '#agent/reader/exclude.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, snapshotTree, type TreeNode } from '../helpers.ts';

/*
 * Offhost backup for real, on ext4 and xfs images on loop devices, filled
 * with fragmented, sparse, preallocated and (ext4) inline files, extended
 * attributes and POSIX ACLs, then frozen: ext4 synced and remounted
 * read-only; xfs frozen (xfs_freeze), copied as a snapshot volume would
 * be, and the copy mounted as the LVM provider mounts an xfs snapshot
 * (ro,nouuid,norecovery: it has its origin's UUID, beside it). Each image
 * is backed up by extent map through the mover process and by a file-level
 * backup; both restore to the tree, attributes included. The mover's
 * device reads are checked against the extents filefrag reports for the
 * files, parsed here on its own (not with the code under test).
 */

const ROOT = '/tmp/i11-offhost-finish';
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;

function missingTool(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mkfs.ext4', 'filefrag', 'findmnt', 'blockdev', 'mount', 'umount', 'getfattr', 'setfattr', 'getfacl', 'setfacl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control)';
  return undefined;
}
const skip = missingTool();

const sh = (command: string, args: string[]): string => execFileSync(command, args, { encoding: 'utf8' }).trim();

/** The tree: inline small files, a fragmented file, sparse and preallocated files, plenty of ordinary ones, links, attributes. */
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
  addAttrs(root);
  return { inline };
}

/** Extended attributes (user.*, one binary) and POSIX ACLs (access, and a directory's default) on files read from the device, read as files, and on directories. */
function addAttrs(root: string): void {
  const at = (relative: string): string => path.join(root, relative);
  execFileSync('setfattr', ['-n', 'user.color', '-v', 'blue', at('plain/d0/f0.bin')]);
  execFileSync('setfattr', ['-n', 'user.binary', '-v', '0sAAEC/wA=', at('plain/d0/f0.bin')]);
  execFileSync('setfattr', ['-n', 'user.mime_type', '-v', 'application/octet-stream', at('frag/interleaved-a.bin')]);
  execFileSync('setfattr', ['-n', 'user.sparse', '-v', 'yes', at('sparse/holes.bin')]);
  execFileSync('setfattr', ['-n', 'user.small', '-v', 'inline', at('inline/small-3.txt')]);
  execFileSync('setfattr', ['-n', 'user.dir', '-v', 'a directory', at('plain/d1')]);
  execFileSync('setfattr', ['-n', 'user.linked', '-v', 'both paths', at('plain/big.bin')]);
  execFileSync('setfacl', ['-m', 'u:1234:rw-,g:4321:r--', at('plain/d0/f7.bin')]);
  execFileSync('setfacl', ['-m', 'u:1234:r--', at('inline/small-5.txt')]);
  execFileSync('setfacl', ['-m', 'u:1234:rwx', '-d', '-m', 'u:1234:r-x,g:4321:rwx', at('plain/d2')]);
}

/**
 * Names that are not UTF-8, in a directory of their own (a second
 * selection: snapshotTree reads names as text): a file with an attribute,
 * and a symlink whose name and target are not UTF-8.
 */
const ODD_FILE = Buffer.from('caf\xe9.bin', 'latin1');
function buildOddNames(root: string): void {
  mkdirSync(root);
  const at = (name: Buffer): Buffer => Buffer.concat([Buffer.from(`${root}/`), name]);
  writeFileSync(at(ODD_FILE), patterned(20 * KiB, 77));
  symlinkSync(ODD_FILE, at(Buffer.from('link\xff', 'latin1')));
  // setfattr takes the name as an argument string: through the shell, from printf's octal escape.
  execFileSync('sh', ['-c', `setfattr -n user.odd -v "not utf-8" "$(printf 'caf\\351.bin')"`], { cwd: root });
}

/** A tree of names that are not UTF-8, read as bytes: each name (latin1) with its content, link target, and getfattr's dump. */
function oddTree(root: string): { entries: Array<[string, string]>; xattrs: string } {
  const entries: Array<[string, string]> = readdirSync(root, { encoding: 'buffer' }).map((name) => {
    const at = Buffer.concat([Buffer.from(`${root}/`), name]);
    const stats = lstatSync(at);
    const what = stats.isSymbolicLink() ? `-> ${readlinkSync(at, { encoding: 'buffer' }).toString('latin1')}` : createHash('sha256').update(readFileSync(at)).digest('hex');
    return [name.toString('latin1'), what];
  });
  return { entries: entries.sort(), xattrs: execFileSync('getfattr', ['-R', '-d', '-m', 'user', '-h', '-e', 'base64', '.'], { cwd: root, encoding: 'latin1' }) };
}

/**
 * The attributes under `root` as getfattr and getfacl print them, paths
 * relative to `root` and one block a file sorted by path (the tools list a
 * directory in its on-disk order), so two trees compare.
 */
function attrDump(root: string): { xattrs: string[]; acls: string[] } {
  const opts = { cwd: root, encoding: 'utf8' as const };
  const blocks = (dump: string): string[] => dump.split('\n\n').map((b) => b.trim()).filter((b) => b !== '').sort();
  return {
    // -m - : every attribute, the ACLs' system.posix_acl_* included; -h: not through symlinks.
    xattrs: blocks(execFileSync('getfattr', ['-R', '-d', '-m', '-', '-h', '-e', 'base64', '.'], opts)),
    // -P: a physical walk (symlinks not followed); every file with its mode as ACL entries, and the ACLs proper.
    acls: blocks(execFileSync('getfacl', ['-R', '-P', '-n', '-p', '.'], opts)),
  };
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

/**
 * How each file system is made and frozen. ext4: inline_data (small files
 * fall back to a file read), synced and remounted read-only. xfs (no
 * inline data; at least 300 MiB for mkfs.xfs, sparse here): frozen, its
 * image copied sparse like a snapshot volume, and the copy mounted beside
 * the origin as the LVM provider mounts an xfs snapshot.
 */
interface FsCase {
  name: 'ext4' | 'xfs';
  skip: string | undefined;
  imageBytes: string;
  mkfs: (image: string) => void;
  /** Freezes the filled file system mounted at `mount` from `device`; returns the frozen image's device and read-only mount (the origin's, or a snapshot's), and what to undo. */
  freeze: (context: { dir: string; image: string; device: string; mount: string }) => { device: string; mount: string; undo: () => void };
  /** Whether small files live in the inode (and fall back to a file read). */
  inline: boolean;
}

const EXT4: FsCase = {
  name: 'ext4',
  skip,
  imageBytes: '96M',
  mkfs: (image) => void execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'inline_data', '-b', '4096', '-I', '256', image]),
  freeze: ({ device, mount }) => {
    // The frozen image: everything on the device, then read-only.
    execFileSync('sync', ['-f', mount]);
    execFileSync('mount', ['-o', 'remount,ro', mount]);
    return { device, mount, undo: () => undefined };
  },
  inline: true,
};

function missingXfsTool(): string | undefined {
  const missing = ['mkfs.xfs', 'xfs_freeze'].find((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  return missing === undefined ? undefined : `${missing} is missing (xfsprogs)`;
}

const XFS: FsCase = {
  name: 'xfs',
  skip: skip ?? missingXfsTool(),
  imageBytes: '320M',
  mkfs: (image) => void execFileSync('mkfs.xfs', ['-q', '-f', '-b', 'size=4096', image]),
  freeze: ({ dir, image, mount }) => {
    // A snapshot volume: the file system quiesced (its log clean), its blocks copied, thawed; the copy mounted read-only beside it.
    const copy = path.join(dir, 'xfs-snapshot.img');
    const snapshotMount = path.join(dir, 'snapshot');
    mkdirSync(snapshotMount, { recursive: true });
    execFileSync('xfs_freeze', ['-f', mount]);
    try {
      execFileSync('cp', ['--sparse=always', image, copy]);
    } finally {
      execFileSync('xfs_freeze', ['-u', mount]);
    }
    const snapshotDevice = sh('losetup', ['-f', '--show', copy]);
    try {
      // As edge-agent/snapshot/lvm-provider.ts mounts an xfs snapshot: its origin's UUID is mounted too (nouuid), its log is not replayed (norecovery).
      execFileSync('mount', ['-t', 'xfs', '-o', 'ro,nouuid,norecovery', snapshotDevice, snapshotMount]);
    } catch (error) {
      spawnSync('losetup', ['-d', snapshotDevice]);
      throw error;
    }
    return {
      device: snapshotDevice,
      mount: snapshotMount,
      undo: () => {
        spawnSync('umount', [snapshotMount]);
        spawnSync('losetup', ['-d', snapshotDevice]);
      },
    };
  },
  inline: false,
};

describe.each([EXT4, XFS])('offhost backup by extent map of an $name image on a loop device', (fs) => {
  if (fs.skip) {
    it.skip(`skipped: ${fs.skip}`, () => undefined);
    return;
  }
  const dir = path.join(ROOT, `${fs.name}-${process.pid}`);
  const image = path.join(dir, `${fs.name}.img`);
  const origin = path.join(dir, 'mnt');
  let device = '';
  let originDevice = '';
  let mount = '';
  let tree = '';
  let mounted = false;
  let unfreeze: () => void = () => undefined;
  let inlineCount = 0;
  let sourceAttrs: ReturnType<typeof attrDump>;
  let odd = '';
  let oddSource: ReturnType<typeof oddTree>;
  let source: Map<string, TreeNode>;
  let fileTask: BackupTask;
  let fileResult: BackupTaskResult;
  let offTask: BackupTask;
  let offResult: BackupTaskResult;
  let map: MapSummary;
  let reads: { bytes: number; reads: number; ranges: Array<{ offset: number; bytes: number }> };

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(origin, { recursive: true });
    execFileSync('truncate', ['-s', fs.imageBytes, image]);
    fs.mkfs(image);
    originDevice = sh('losetup', ['-f', '--show', image]);
    execFileSync('mount', [originDevice, origin]);
    mounted = true;
    ({ inline: inlineCount } = buildTree(path.join(origin, 'tree')));
    buildOddNames(path.join(origin, 'odd'));
    const frozen = fs.freeze({ dir, image, device: originDevice, mount: origin });
    ({ device, mount } = frozen);
    unfreeze = frozen.undo;
    tree = path.join(mount, 'tree');
    odd = path.join(mount, 'odd');
    source = snapshotTree(tree);
    oddSource = oddTree(odd);
    sourceAttrs = attrDump(tree);

    fileTask = backupTask(path.join(dir, 'unit-file'), [tree, odd], { backupId: 'host1_1700000001' });
    fileResult = await runBackup(fileTask, { store: new FsObjectStore(path.join(dir, 'unit-file')), reporter: recordingReporter(), now: () => new Date() });

    offTask = backupTask(path.join(dir, 'unit-offhost'), [tree, odd], { backupId: 'host1_1700000002' });
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
    unfreeze();
    if (mounted) spawnSync('umount', [origin]);
    if (originDevice) spawnSync('losetup', ['-d', originDevice]);
    rmSync(dir, { recursive: true, force: true });
  });

  it(`maps the fragmented, sparse and ordinary files to device ranges${fs.inline ? ' and sends the inline ones to a file read, and says how many' : ', every one (no inline data)'}`, () => {
    const inline = fs.inline ? inlineCount : 0;
    // And the file whose name is not UTF-8 (filefrag takes names as argument strings).
    const reasons = { ...(fs.inline ? { inline: inlineCount } : {}), 'name not UTF-8 (filefrag takes names as text)': 1 };
    expect(inlineCount).toBeGreaterThan(0);
    expect(map.fallback).toEqual(reasons);
    expect(offResult.offhost).toMatchObject({ fallbackFiles: inline + 1, fallbackReasons: reasons });
    // Every other regular file is read from the device (the later hard link is not read at all).
    const regular = [...source.values()].filter((n) => n.type === 'file').length;
    expect(offResult.offhost!.deviceFiles).toBe(regular - inline - 1);
    expect(offResult.statusCode).toBe(0);
    // The interleaved files really are fragmented.
    const fragExtents = sh('filefrag', [path.join(tree, 'frag/interleaved-a.bin')]);
    expect(Number(/(\d+) extents? found/.exec(fragExtents)![1])).toBeGreaterThan(3);
  });

  it('read only mapped ranges of the device, and no more bytes than the map names', () => {
    const { allowed, inlineFiles } = extentsOnDevice(tree);
    expect(inlineFiles.length).toBe(fs.inline ? inlineCount : 0);
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
    // Attributes and ACLs: those of the frozen image, on both restores alike (getfattr -d, getfacl).
    expect(sourceAttrs.xattrs.join('\n')).toMatch(/user\.color=0sYmx1ZQ==/);
    expect(sourceAttrs.acls.join('\n')).toMatch(/default:group:4321:rwx/);
    expect(attrDump(path.join(offTarget, tree))).toEqual(sourceAttrs);
    expect(attrDump(path.join(fileTarget, tree))).toEqual(sourceAttrs);
    expect(map.withAttrs).toBeGreaterThanOrEqual(10);
    // Names that are not UTF-8: the same bytes, content, link target and attributes.
    expect(oddSource.entries).toHaveLength(2);
    expect(oddSource.xattrs).toMatch(/user\.odd=/);
    expect(oddTree(path.join(offTarget, odd))).toEqual(oddSource);
    expect(oddTree(path.join(fileTarget, odd))).toEqual(oddSource);
  });

  it('writes fragments GNU tar extracts to the same tree (sparse members with their holes), attributes and ACLs included', () => {
    const fragments = sh('find', [path.join(dir, 'unit-offhost'), '-name', 'fragment-*.tar']).split('\n').sort();
    expect(fragments.length).toBeGreaterThan(0);
    const target = path.join(dir, 'tar-offhost');
    mkdirSync(target);
    // GNU tar sets only user.* attributes unless told otherwise; xfs shows root its ACLs as trusted.SGI_ACL_* too, which the image keeps.
    for (const fragment of fragments) execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--acls', '-xf', fragment, '-C', target]);
    expectSameContent(snapshotTree(path.join(target, tree)), source);
    expect(attrDump(path.join(target, tree))).toEqual(sourceAttrs);
    expect(oddTree(path.join(target, odd))).toEqual(oddSource);
    expect(Number(lstatSync(path.join(target, tree, 'sparse/holes.bin'), { bigint: true }).blocks) * 512).toBeLessThan(MiB);
  });

  it('says in the map, once, when the attr tools cannot run where the image is mounted (the mover lists it: status 1)', async () => {
    const out = path.join(dir, 'no-attr-tools.map.ndjson');
    const notFound = Object.assign(new Error('spawn xargs ENOENT'), { code: 'ENOENT' });
    const summary = await mapFrozenImage({ selections: [tree], exclude: excludeMatcher([]), readRoot: mount, device, out, runTool: () => Promise.reject(notFound) });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(summary.withAttrs).toBe(0);
    expect(lines.filter((l) => 'xattrs' in l || 'acl' in l)).toEqual([]);
    expect(lines.filter((l) => l.kind === 'note')).toEqual([{ kind: 'note', reason: expect.stringMatching(/^extended attributes and ACLs not read: cannot run getfattr/) }]);
  });

  // The mover's process protocol does not depend on the file system: tested once, on ext4.
  it.runIf(fs.name === 'ext4')('stops the mover when the job is cancelled: 150, and the mover removes what it wrote', async () => {
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

  it.runIf(fs.name === 'ext4')('ends with 50 when the mover dies without a word (killed -9), naming what it said on stderr', async () => {
    const task = backupTask(path.join(dir, 'unit-killed'), [tree], { backupId: 'host1_1700000006' });
    const failure = await failureOf(runOffhostBackup({ task, readRoot: mount, device, workDir: path.join(dir, 'work'), reporter: recordingReporter(), mover: { command: ['sh', '-c', 'echo reading the device >&2; kill -9 $$'] } }));
    expect(failure.statusCode).toBe(50);
    expect(failure.message).toMatch(/the data mover ended .*without a result: reading the device/);
  });

  it('refuses a file system that is not frozen (mounted read-write) with 156, before anything is written', async () => {
    // The origin: read-write (xfs), or made so for the test (ext4).
    if (fs.name === 'ext4') execFileSync('mount', ['-o', 'remount,rw', origin]);
    try {
      const task = backupTask(path.join(dir, 'unit-rw'), [path.join(origin, 'tree')], { backupId: 'host1_1700000003' });
      const failure = await failureOf(runOffhostBackup({ task, readRoot: origin, device: originDevice, workDir: path.join(dir, 'work'), reporter: recordingReporter(), mover: { command: ['false'] } }));
      expect(failure.statusCode).toBe(156);
      expect(failure.message).toMatch(/read-write/);
      expect(existsSync(path.join(dir, 'unit-rw'))).toBe(false);
    } finally {
      if (fs.name === 'ext4') execFileSync('mount', ['-o', 'remount,ro', origin]);
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
