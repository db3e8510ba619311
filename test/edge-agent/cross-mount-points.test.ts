import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { Policy } from '#core/model/policy.ts';
import type { BackupTaskResult } from '#core/model/task.ts';
import { backupTask, recordingReporter, tempDir } from './helpers.ts';

const BASE = '/tmp/i11-special-files';

/** Whether this process may mount a tmpfs (root, and a kernel and container that allow it). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  mkdirSync(BASE, { recursive: true });
  const probe = mkdtempSync(path.join(BASE, 'probe-'));
  try {
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]).status !== 0) return false;
    spawnSync('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const mountable = canMount();

async function indexedPaths(store: FsObjectStore, result: BackupTaskResult, root: string): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of readIndex(store, result.indexKey, result.indexSha256)) paths.push(path.relative(root, entry.path) || '.');
  return paths;
}

describe('the crossMountPoints policy option', () => {
  it('is false unless the policy says otherwise', () => {
    const policy = Policy.parse({ name: 'p', clients: [{ name: 'c' }], selections: ['/home'], schedules: [{ name: 'full', type: 'full' }], storageUnit: 'disk1' });
    expect(policy.crossMountPoints).toBe(false);
  });
});

describe.skipIf(!mountable)('a walk over a file system mounted under a selection (needs root and tmpfs mounts)', () => {
  let root: string;
  let mountPoint: string;
  let unit: ReturnType<typeof tempDir>;
  let store: FsObjectStore;

  beforeAll(() => {
    mkdirSync(BASE, { recursive: true });
    root = mkdtempSync(path.join(BASE, 'cross-'));
    mountPoint = path.join(root, 'mnt');
    mkdirSync(mountPoint);
    writeFileSync(path.join(root, 'here.txt'), 'on the selection’s file system\n');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    mkdirSync(path.join(mountPoint, 'inside'));
    writeFileSync(path.join(mountPoint, 'inside/there.txt'), 'on the mounted file system\n');
    unit = tempDir('cross-unit');
    store = new FsObjectStore(unit.dir);
  });

  afterAll(() => {
    if (mountPoint) spawnSync('umount', [mountPoint]);
    if (root) rmSync(root, { recursive: true, force: true });
    unit?.cleanup();
  });

  it('records the mount point directory but not what is mounted there, by default', async () => {
    const result = await runBackup(backupTask(unit.dir, [root], { backupId: 'host1_1700000001' }), { store, reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(0);
    expect(await indexedPaths(store, result, root)).toEqual(['.', 'here.txt', 'mnt']);
  });

  it('goes into the mounted file system with crossMountPoints', async () => {
    const result = await runBackup(backupTask(unit.dir, [root], { backupId: 'host1_1700000002', crossMountPoints: true }), { store, reporter: recordingReporter(), now: () => new Date() });
    expect(await indexedPaths(store, result, root)).toEqual(['.', 'here.txt', 'mnt', 'mnt/inside', 'mnt/inside/there.txt']);
  });

  it('backs up a selection that is itself the mount point, with its contents', async () => {
    const result = await runBackup(backupTask(unit.dir, [mountPoint], { backupId: 'host1_1700000003' }), { store, reporter: recordingReporter(), now: () => new Date() });
    expect(await indexedPaths(store, result, mountPoint)).toEqual(['.', 'inside', 'inside/there.txt']);
  });
});
