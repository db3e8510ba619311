import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { type FrozenImage, cairnSnapshotName } from '#core/model/snapshot.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ZfsSnapshotProvider } from '#agent/snapshot/zfs-provider.ts';
import { type SnapshotVolume, SNAPSHOT_VOLUME_FILES, describeSnapshotProviderContract } from '#test/contracts/snapshot-provider-contract.ts';
import { type ScriptedCall, findmntReport, fixture, scriptedRunner } from './scripted-runner.ts';

const AT = '2026-12-03T14:00:00.000Z';
const NAME = cairnSnapshotName(9, '/tank/home');
const SNAPSHOT = `tank/home@${NAME}`;
const READ_ROOT = `/tank/home/.zfs/snapshot/${NAME}`;

/** OpenZFS's message for a dataset or snapshot that is not there (zfs_open + zfs_standard_error: test/fixtures/snapshot/README.md). */
const missing = (name: string): Partial<{ exitCode: number; stderr: string }> => ({ exitCode: 1, stderr: `cannot open '${name}': dataset does not exist\n` });

const findHome = (path = '/tank/home'): ScriptedCall => ({ command: ['findmnt', '-J', '-T', path, '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: findmntReport('/tank/home', 'tank/home', 'zfs') } });
const listHome = (type = 'filesystem'): ScriptedCall => ({ command: ['zfs', 'list', '-H', '-p', '-o', 'name,type,mountpoint', 'tank/home'], result: { stdout: `tank/home\t${type}\t/tank/home\n` } });
const listSnapshot = (present: boolean): ScriptedCall => ({ command: ['zfs', 'list', '-H', '-p', '-o', 'name', '-t', 'snapshot', SNAPSHOT], result: present ? { stdout: `${SNAPSHOT}\n` } : missing(SNAPSHOT) });

function image(): FrozenImage {
  return { method: 'zfs', name: NAME, jobId: 9, sourceRoot: '/tank/home', readRoot: READ_ROOT, handle: { snapshot: SNAPSHOT }, createdAt: AT };
}

describe('ZfsSnapshotProvider on its command lines and the tools\' outputs', () => {
  it('probes a path on a ZFS mount to its dataset\'s mount point (findmnt\'s source is the dataset; zfs list confirms a file system)', async () => {
    const { run, remaining } = scriptedRunner([findHome('/tank/home/alice/notes.txt'), listHome()]);
    expect(await new ZfsSnapshotProvider({ run }).probe('/tank/home/alice/notes.txt')).toEqual({ ok: true, sourceRoot: '/tank/home' });
    expect(remaining()).toEqual([]);
  });

  it('probes other file systems and a missing path to reasons naming their type, without running zfs', async () => {
    const { run, calls } = scriptedRunner([
      { command: ['findmnt', '-J', '-T', '/data', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: fixture('findmnt-ext4-loop.json') } },
      { command: ['findmnt', '-J', '-T', '/nowhere', '-o', 'TARGET,SOURCE,FSTYPE'], result: { exitCode: 1 } },
    ]);
    const provider = new ZfsSnapshotProvider({ run });
    expect(await provider.probe('/data')).toEqual({ ok: false, reason: '/data is ext4 on /dev/loop2, not ZFS' });
    expect(await provider.probe('/nowhere')).toEqual({ ok: false, reason: '/nowhere does not exist' });
    expect(calls.every((c) => c[0] === 'findmnt')).toBe(true);
  });

  it('probes to a reason when zfs list fails or the dataset is not a file system', async () => {
    const broken = scriptedRunner([findHome(), { command: ['zfs', 'list', '-H', '-p', '-o', 'name,type,mountpoint', 'tank/home'], result: { exitCode: 127, stderr: 'zfs: spawn zfs ENOENT' } }]);
    expect(await new ZfsSnapshotProvider({ run: broken.run }).probe('/tank/home')).toMatchObject({ ok: false, reason: expect.stringContaining('spawn zfs ENOENT') });
    const volume = scriptedRunner([findHome(), listHome('volume')]);
    expect(await new ZfsSnapshotProvider({ run: volume.run }).probe('/tank/home')).toEqual({ ok: false, reason: '/tank/home is zfs on tank/home, a ZFS volume (only file systems are frozen)' });
  });

  it('creates: zfs snapshot with the job as a user property, read at <mount point>/.zfs/snapshot/<name>', async () => {
    const { run, remaining } = scriptedRunner([findHome(), listHome(), listSnapshot(false), { command: ['zfs', 'snapshot', '-o', 'cairn:job=9', SNAPSHOT], result: {} }]);
    const looked: string[] = [];
    const provider = new ZfsSnapshotProvider({ run, isDirectory: async (path) => (looked.push(path), true) });
    expect(await provider.create({ sourceRoot: '/tank/home', name: NAME, jobId: 9, createdAt: AT })).toEqual(image());
    expect(looked).toEqual([READ_ROOT]);
    expect(remaining()).toEqual([]);
  });

  it('fails a create with status 156 naming zfs snapshot and what it said, leaving no snapshot', async () => {
    const { run, remaining } = scriptedRunner([
      findHome(),
      listHome(),
      listSnapshot(false),
      { command: ['zfs', 'snapshot', '-o', 'cairn:job=9', SNAPSHOT], result: { exitCode: 1, stderr: `cannot create snapshot '${SNAPSHOT}': out of space\n` } },
      listSnapshot(false),
    ]);
    const failure = await new ZfsSnapshotProvider({ run, isDirectory: async () => true }).create({ sourceRoot: '/tank/home', name: NAME, jobId: 9, createdAt: AT }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CairnError);
    expect(failure).toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR, message: expect.stringContaining(`\`zfs snapshot -o cairn:job=9 ${SNAPSHOT}\` failed (exit code 1): cannot create snapshot`) });
    expect(remaining()).toEqual([]);
  });

  it('destroys the snapshot it made when .zfs/snapshot/<name> cannot be read', async () => {
    const { run, remaining } = scriptedRunner([
      findHome(),
      listHome(),
      listSnapshot(false),
      { command: ['zfs', 'snapshot', '-o', 'cairn:job=9', SNAPSHOT], result: {} },
      listSnapshot(true),
      { command: ['zfs', 'destroy', SNAPSHOT], result: {} },
    ]);
    await expect(new ZfsSnapshotProvider({ run, isDirectory: async () => false }).create({ sourceRoot: '/tank/home', name: NAME, jobId: 9, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining(READ_ROOT) });
    expect(remaining()).toEqual([]);
  });

  it('refuses a path that is not its dataset\'s mount point, and a leftover of the same name', async () => {
    const inner = scriptedRunner([findHome('/tank/home/alice'), listHome()]);
    const name = cairnSnapshotName(9, '/tank/home/alice');
    await expect(new ZfsSnapshotProvider({ run: inner.run }).create({ sourceRoot: '/tank/home/alice', name, jobId: 9, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('not the mount point') });
    const leftover = scriptedRunner([findHome(), listHome(), listSnapshot(true)]);
    await expect(new ZfsSnapshotProvider({ run: leftover.run }).create({ sourceRoot: '/tank/home', name: NAME, jobId: 9, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('already exists') });
  });

  it('tells the image a create of the same request makes (imageOf) from findmnt and zfs list alone', async () => {
    const { run, calls } = scriptedRunner([findHome(), listHome()]);
    expect(await new ZfsSnapshotProvider({ run }).imageOf({ sourceRoot: '/tank/home', name: NAME, jobId: 9, createdAt: AT })).toEqual(image());
    expect(calls).toHaveLength(2);
  });

  it('deletes with zfs destroy DATASET@NAME; a second delete finds it gone and destroys nothing', async () => {
    const { run, remaining } = scriptedRunner([listSnapshot(true), { command: ['zfs', 'destroy', SNAPSHOT], result: {} }, listSnapshot(false), listSnapshot(false)]);
    const provider = new ZfsSnapshotProvider({ run });
    await provider.delete(image());
    await provider.delete(image());
    expect(await provider.exists(image())).toBe(false);
    expect(remaining()).toEqual([]);
  });

  it('fails a delete that zfs destroy refuses while the snapshot stays, and an exists that zfs cannot answer, with 156', async () => {
    const held = scriptedRunner([listSnapshot(true), { command: ['zfs', 'destroy', SNAPSHOT], result: { exitCode: 1, stderr: `cannot destroy snapshot ${SNAPSHOT}: dataset is busy\n` } }, listSnapshot(true)]);
    await expect(new ZfsSnapshotProvider({ run: held.run }).delete(image())).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('dataset is busy') });
    const noTool = scriptedRunner([{ command: ['zfs', 'list', '-H', '-p', '-o', 'name', '-t', 'snapshot', SNAPSHOT], result: { exitCode: 127, stderr: 'zfs: spawn zfs ENOENT' } }]);
    await expect(new ZfsSnapshotProvider({ run: noTool.run }).exists(image())).rejects.toMatchObject({ statusCode: 156 });
  });

  it('refuses an image whose handle does not name DATASET@<its name> (a forged record never destroys a dataset), running nothing', async () => {
    const { run, calls } = scriptedRunner([]);
    const provider = new ZfsSnapshotProvider({ run });
    for (const snapshot of ['tank/home', `tank/home@other`, `-r@${NAME}`, `@${NAME}`]) {
      await expect(provider.delete({ ...image(), handle: { snapshot } })).rejects.toMatchObject({ statusCode: 156 });
    }
    expect(calls).toEqual([]);
  });
});

/** Why a ZFS pool cannot be made here, or undefined. */
function zfsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'ZFS needs root';
  for (const tool of ['zfs', 'zpool']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (no ZFS on this machine)`;
  if (spawnSync('sh', ['-c', 'test -e /dev/zfs']).status !== 0) return 'the ZFS kernel module is not loaded (/dev/zfs is missing)';
  return undefined;
}

/** A pool on a sparse file with one dataset (only where ZFS is installed). */
async function openZfsVolume(): Promise<{ store: SnapshotVolume; cleanup: () => Promise<void> }> {
  const directory = `/tmp/i11-snap-providers/zfs-e2e-${process.pid}-${Date.now()}`;
  const pool = `cairnt${process.pid}${Date.now() % 100000}`;
  const root = join(directory, 'mnt');
  await mkdir(directory, { recursive: true });
  const sh = (file: string, args: string[]): string => {
    const result = spawnSync(file, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  sh('truncate', ['-s', '128M', join(directory, 'vdev.img')]);
  sh('zpool', ['create', '-m', 'none', pool, join(directory, 'vdev.img')]);
  const cleanup = async (): Promise<void> => {
    spawnSync('zpool', ['destroy', '-f', pool]);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    sh('zfs', ['create', '-o', `mountpoint=${root}`, `${pool}/data`]);
    for (const [path, content] of Object.entries(SNAPSHOT_VOLUME_FILES)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
  } catch (error) {
    await cleanup();
    throw error;
  }
  const leftovers = async (): Promise<string[]> => sh('zfs', ['list', '-H', '-o', 'name', '-t', 'snapshot', '-r', pool]).split('\n').filter(Boolean).sort();
  return { store: { provider: new ZfsSnapshotProvider(), root, leftovers }, cleanup };
}

describeSnapshotProviderContract('ZFS (file vdev)', openZfsVolume, zfsSkipReason());
