import { keyOf } from './forge.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { TarMembersVerifier } from '#agent/image/fragment-digest.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { readManifest } from '#agent/image/manifest.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { memberName } from '#agent/image/tar-member.ts';
import { CairnError } from '#core/errors.ts';
import { imageKeys } from '#core/ids.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupTaskResult, IndexEntry } from '#core/model/task.ts';
import { readAll } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, InstrumentedStore, patterned, recordingReporter, snapshotTree, tempDir, type TreeNode } from './helpers.ts';

const MiB = 1024 * 1024;
const GNU_TAR = '/usr/bin/tar';
const hasGnuTar = existsSync(GNU_TAR) && execFileSync(GNU_TAR, ['--version']).toString().includes('GNU tar');

/** Seconds with a fraction, so sub-second mtimes are exercised. */
const T = (n: number): number => 1_600_000_000 + n * 3600 + 0.123456;

/** A tree with the shapes a backup has to get right. */
function buildTree(root: string): void {
  const file = (relative: string, content: Buffer | string, mode = 0o644): void => {
    const absolute = path.join(root, relative);
    mkdirSync(path.dirname(absolute), { recursive: true });
    writeFileSync(absolute, content);
    chmodSync(absolute, mode);
  };
  mkdirSync(path.join(root, 'empty'));
  file('a/b/c/d/deep.txt', 'deep\n');
  file('a/top.txt', 'top\n');
  const sizes = [0, 1, 511, 512, 513, 10_000, MiB - 1, MiB + 1];
  sizes.forEach((size, i) => file(`sizes/${String(size).padStart(8, '0')}.bin`, patterned(size, i + 1)));
  file('big/three-mib.bin', patterned(3 * MiB, 99));
  file('café/naïve file.txt', 'non-ASCII name\n');
  file(`long/${'x'.repeat(90)}/${'y'.repeat(90)}.txt`, 'a name longer than ustar holds\n');
  mkdirSync(path.join(root, 'links'));
  symlinkSync('../a/top.txt', path.join(root, 'links/to-file'));
  symlinkSync('/nonexistent/cairn-target', path.join(root, 'links/dangling'));
  file('hard/first', patterned(5000, 7));
  linkSync(path.join(root, 'hard/first'), path.join(root, 'hard/second'));
  file('modes/private', 'private\n', 0o600);
  file('modes/exec', '#!/bin/sh\n', 0o755);
  file('modes/none', 'no permissions\n', 0o000);
  file('modes/locked/inside.txt', 'inside a read-only directory\n');
  file('skip.tmp', 'excluded by *.tmp\n');
  file('cache/junk.bin', 'excluded with its directory\n');
  // Set times last, deepest first, so creating children does not move them.
  const all = [...snapshotTree(root).entries()].reverse();
  all.forEach(([relative, node], i) => {
    const absolute = path.join(root, relative);
    if (node.type === 'symlink') lutimesSync(absolute, T(i), T(i));
    else utimesSync(absolute, T(i), T(i));
  });
  chmodSync(path.join(root, 'modes/locked'), 0o555);
}

/**
 * `directoryMtimes: false` for GNU tar extracting fragment after fragment:
 * each run sets a directory's mtime, and the next run's new entries move it.
 */
function expectSameTree(actual: Map<string, TreeNode>, expected: Map<string, TreeNode>, options: { hardLinks?: Array<[string, string]>; directoryMtimes?: boolean } = {}): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [relative, want] of expected) {
    const got = actual.get(relative)!;
    const where = relative || '(root)';
    expect({ where, type: got.type, mode: got.mode, size: got.size, target: got.target }).toEqual({ where, type: want.type, mode: want.mode, size: want.size, target: want.target });
    if (want.content) expect(got.content!.equals(want.content), `${where} content`).toBe(true);
    if (want.type !== 'directory' || options.directoryMtimes !== false) expect(Math.abs(got.mtimeMs - want.mtimeMs), `${where} mtime`).toBeLessThan(0.001);
  }
  for (const [a, b] of options.hardLinks ?? []) expect(actual.get(a)!.ino).toBe(actual.get(b)!.ino);
}

/** Everything kept except what the task excludes. */
function withoutExcluded(tree: Map<string, TreeNode>): Map<string, TreeNode> {
  return new Map([...tree].filter(([relative]) => !relative.endsWith('.tmp') && relative !== 'cache' && !relative.startsWith('cache/')));
}

async function indexOf(store: FsObjectStore, result: BackupTaskResult): Promise<IndexEntry[]> {
  const entries: IndexEntry[] = [];
  for await (const entry of readIndex(store, result.indexKey, result.indexSha256)) entries.push(entry);
  return entries;
}

describe('backup and restore of a tree', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let instrumented: InstrumentedStore;
  const reporter = recordingReporter();
  let result: BackupTaskResult;
  let image: Image;
  let sourceTree: Map<string, TreeNode>;

  beforeAll(async () => {
    source = tempDir('src');
    unit = tempDir('unit');
    scratch = tempDir('scratch');
    store = new FsObjectStore(unit.dir);
    instrumented = new InstrumentedStore(store);
    buildTree(source.dir);
    sourceTree = withoutExcluded(snapshotTree(source.dir));
    const task = backupTask(unit.dir, [source.dir], { exclude: ['*.tmp', 'cache'] });
    result = await runBackup(task, { store: instrumented, reporter, now: () => new Date() });
    image = catalogImage(task, result);
  });

  afterAll(() => {
    // The read-only directory must be writable again before it can be removed.
    for (const root of [source.dir, scratch.dir]) execFileSync('chmod', ['-R', 'u+w', root]);
    source.cleanup();
    unit.cleanup();
    scratch.cleanup();
  });

  it('writes several fragments, each at least the fragment size but the last, then the index, then the manifest', async () => {
    const keys = imageKeys(result.backupId);
    expect(result.statusCode).toBe(0);
    expect(result.fragments.length).toBeGreaterThanOrEqual(3);
    for (const fragment of result.fragments.slice(0, -1)) expect(fragment.bytes).toBeGreaterThanOrEqual(MiB);
    expect(instrumented.completed).toEqual([...result.fragments.map((f) => keyOf(f)), keys.index, keys.manifest]);
    for (const fragment of result.fragments) {
      const bytes = await readAll(await store.get(keyOf(fragment)));
      expect(bytes.length).toBe(fragment.bytes);
      expect(fragment.checksum).toBe('tar-members-1');
      expect(new TarMembersVerifier().update(bytes).digest()).toBe(fragment.sha256);
    }
    const manifest = await readManifest(store, result.manifestKey);
    expect(manifest).toMatchObject({ backupId: result.backupId, fileCount: result.fileCount, bytes: result.bytes, indexSha256: result.indexSha256, fragments: result.fragments });
    expect(manifest.counts).toMatchObject({ hardlinks: 1, symlinks: 2, excluded: 2, unreadable: 0, changed: 0 });
    expect(result.bytes).toBe(result.fragments.reduce((sum, f) => sum + f.bytes, 0));
  });

  it('indexes every member in walk order with its sha256, fragment and header offset', async () => {
    const entries = await indexOf(store, result);
    expect(entries.map((e) => e.path)).toEqual([...sourceTree.keys()].map((relative) => (relative ? `${source.dir}/${relative}` : source.dir)));
    expect(entries.length).toBe(result.fileCount);
    const big = entries.find((e) => e.path.endsWith('three-mib.bin'))!;
    expect(big.sha256).toBe(createHash('sha256').update(sourceTree.get('big/three-mib.bin')!.content!).digest('hex'));
    expect(entries.find((e) => e.path.endsWith('hard/second'))).toMatchObject({ type: 'hardlink', linkTarget: `${source.dir}/hard/first` });
    // A read from the recorded offset starts with that member's header.
    for (const entry of entries) {
      const fragment = result.fragments[entry.fragment - 1]!;
      const parser = tarExtract();
      const body = await store.get(keyOf(fragment), { start: entry.offset, end: Math.min(fragment.bytes, entry.offset + 4096) });
      const first = new Promise<string>((resolve, reject) => {
        parser.on('entry', (header, stream) => {
          resolve(header.name);
          stream.resume();
          parser.destroy();
        });
        parser.on('error', reject);
      });
      for await (const chunk of body) parser.write(chunk);
      expect(await first).toBe(memberName(entry.path, entry.type === 'directory' ? 'directory' : 'file'));
    }
  });

  it('reports progress and heartbeats', () => {
    expect(reporter.heartbeats).toBeGreaterThanOrEqual(1);
    const last = reporter.progressCalls.at(-1)!;
    expect(last).toMatchObject({ files: result.fileCount, bytes: result.bytes });
    expect(result.writerWaits + result.readerWaits).toBeGreaterThan(0);
  });

  it('measures where the time went, for the bottleneck verdict, in the result and the last progress report', () => {
    const times = result.times!;
    expect(times.elapsedMs).toBeGreaterThan(0);
    // Each figure counts overlapping work once, so none exceeds the time the image took.
    for (const figure of [times.readMs, times.writeMs, times.hashMs, times.readerWaitMs, times.writerWaitMs]) expect(figure).toBeLessThanOrEqual(times.elapsedMs);
    // The tree has files to read and hash and fragments to write.
    expect(times.readMs).toBeGreaterThan(0);
    expect(times.writeMs).toBeGreaterThan(0);
    expect(times.hashMs).toBeGreaterThan(0);
    expect(reporter.progressCalls.at(-1)!.times).toMatchObject({ readMs: expect.any(Number), writerWaitMs: expect.any(Number) });
  });

  it('restores every file, directory and link byte for byte with modes, mtimes and hard links', async () => {
    const target = path.join(scratch.dir, 'full');
    const restored = await restoreImage({ store, image, targetDir: target });
    expect(restored.refused).toEqual([]);
    expect(restored.files).toBe(result.fileCount);
    expect(restored.verified).toBe([...sourceTree.values()].filter((n) => n.type === 'file').length - 1); // the second hard link has no data
    expectSameTree(snapshotTree(path.join(target, source.dir)), sourceTree, { hardLinks: [['hard/first', 'hard/second']] });

    // Restoring again over the first restore (allowed to overwrite) gives the same tree.
    const again = await restoreImage({ store, image, targetDir: target, existing: 'overwrite' });
    expect(again).toEqual(restored);
    expectSameTree(snapshotTree(path.join(target, source.dir)), sourceTree, { hardLinks: [['hard/first', 'hard/second']] });
  });

  it.skipIf(!hasGnuTar)('is readable by GNU tar, fragment by fragment, with identical content', () => {
    const target = path.join(scratch.dir, 'gnu');
    mkdirSync(target);
    const listed: string[] = [];
    for (const fragment of result.fragments) {
      const file = path.join(unit.dir, keyOf(fragment));
      const listing = spawnSync(GNU_TAR, ['-tvf', file], { encoding: 'utf8' });
      expect({ status: listing.status, stderr: listing.stderr }).toEqual({ status: 0, stderr: '' });
      listed.push(...spawnSync(GNU_TAR, ['-tf', file], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
      const extracted = spawnSync(GNU_TAR, ['-xf', file, '-C', target], { encoding: 'utf8' });
      expect({ status: extracted.status, stderr: extracted.stderr }).toEqual({ status: 0, stderr: '' });
    }
    const relativeRoot = source.dir.slice(1);
    expect(listed).toEqual([...sourceTree.entries()].map(([relative, node]) => `${relativeRoot}${relative ? `/${relative}` : ''}${node.type === 'directory' ? '/' : ''}`));
    expectSameTree(snapshotTree(path.join(target, source.dir)), sourceTree, { hardLinks: [['hard/first', 'hard/second']], directoryMtimes: false });
  });

  it('restores only the selected paths, and the file a selected hard link needs', async () => {
    const target = path.join(scratch.dir, 'selected');
    const restored = await restoreImage({ store, image, targetDir: target, paths: [`${source.dir}/a`, `${source.dir}/hard/second`] });
    const root = path.join(target, source.dir);
    expect(readdirSync(root).sort()).toEqual(['a', 'hard']);
    expect(readdirSync(path.join(root, 'hard')).sort()).toEqual(['first', 'second']);
    expect(lstatSync(path.join(root, 'hard/first')).ino).toBe(lstatSync(path.join(root, 'hard/second')).ino);
    const selectedA = new Map([...sourceTree].filter(([r]) => r === 'a' || r.startsWith('a/')).map(([r, n]) => [r.slice(2), n]));
    expectSameTree(snapshotTree(path.join(root, 'a')), selectedA);
    expect(restored.files).toBe(selectedA.size + 2);
  });
});

describe('restore of a damaged image', () => {
  it('reports CORRUPT_IMAGE naming the file whose data changed, and does not put that file in place', async () => {
    // Prepare
    const source = tempDir('src');
    const unit = tempDir('unit');
    const target = tempDir('target');
    try {
      const data = patterned(200_000, 5);
      writeFileSync(path.join(source.dir, 'victim.bin'), data);
      writeFileSync(path.join(source.dir, 'bystander.txt'), 'fine\n');
      const store = new FsObjectStore(unit.dir);
      const task = backupTask(unit.dir, [source.dir]);
      const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
      const fragment = result.fragments[0]!;
      const bytes = await readAll(await store.get(keyOf(fragment)));
      const at = bytes.indexOf(data.subarray(100_000, 100_064));
      expect(at).toBeGreaterThan(0);
      bytes[at + 10] = bytes[at + 10]! ^ 0xff;
      await store.put(keyOf(fragment), bytes);

      // Act
      const failure = await restoreImage({ store, image: catalogImage(task, result), targetDir: target.dir }).catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(CairnError);
      expect((failure as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect((failure as CairnError).message).toContain(`${source.dir}/victim.bin`);
      expect((failure as CairnError).details.some((d) => d.startsWith('fragment 1'))).toBe(true);
      expect(existsSync(path.join(target.dir, source.dir, 'victim.bin'))).toBe(false);
      expect(existsSync(path.join(target.dir, source.dir, 'bystander.txt'))).toBe(true);
      expect(readdirSync(path.join(target.dir, source.dir)).filter((n) => n.startsWith('.cairn-restore-'))).toEqual([]);
    } finally {
      source.cleanup();
      unit.cleanup();
      target.cleanup();
    }
  });
});
