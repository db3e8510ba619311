import { chmod, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { BTRFS_SNAPSHOT_DIRECTORY, BtrfsSnapshotProvider, isInsideBtrfsSnapshotDirectory } from '#agent/snapshot/btrfs-provider.ts';
import { type SnapshotVolume, SNAPSHOT_VOLUME_FILES, describeSnapshotProviderContract } from '#test/contracts/snapshot-provider-contract.ts';
import { type BtrfsLoop, btrfsLoopSkipReason, deleteSubvolumeTree, makeBtrfsLoop } from '#test/support/btrfs-loop.ts';
import { cairnSnapshotName } from '#core/model/snapshot.ts';

const skipReason = btrfsLoopSkipReason();
const directory = '/tmp/i11-snap-providers/btrfs-provider-test';
let loop: Promise<BtrfsLoop> | undefined;
let volumes = 0;

/** One btrfs file system for the file (mkfs per test would cost seconds), one fresh subvolume per test. */
function loopFs(): Promise<BtrfsLoop> {
  loop ??= makeBtrfsLoop(`${directory}-${process.pid}`);
  return loop;
}

afterAll(async () => {
  await (await loop)?.destroy();
});

/** Every subvolume on the file system but the test's volumes and Cairn's snapshot directories: the snapshots left. */
function snapshotsOn(mountPoint: string): string[] {
  const listed = spawnSync('btrfs', ['subvolume', 'list', mountPoint], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(listed.stderr);
  return listed.stdout.split('\n').map((line) => /path (.*)$/.exec(line)?.[1]).filter((p): p is string => p !== undefined && p.includes('/')).filter((p) => !p.endsWith(`/${BTRFS_SNAPSHOT_DIRECTORY}`)).sort();
}

async function openVolume(): Promise<{ store: SnapshotVolume; cleanup: () => Promise<void> }> {
  const fs = await loopFs();
  const root = fs.subvolume(`vol-${++volumes}`);
  for (const [path, content] of Object.entries(SNAPSHOT_VOLUME_FILES)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return {
    store: { provider: new BtrfsSnapshotProvider(), root, leftovers: async () => snapshotsOn(fs.mountPoint) },
    cleanup: async () => deleteSubvolumeTree(fs.mountPoint, root),
  };
}

describeSnapshotProviderContract('btrfs (loop device)', openVolume, skipReason);

describe.skipIf(Boolean(skipReason))(`BtrfsSnapshotProvider on a loop device${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('keeps its images in an owner-only subvolume .cairn-snapshots of the source, which a later image shows only as an empty directory', async () => {
    const { store, cleanup } = await openVolume();
    try {
      const first = await store.provider.create({ sourceRoot: store.root, name: cairnSnapshotName(51, store.root), jobId: 51, createdAt: '2026-12-03T14:00:00.000Z' });
      expect(first.readRoot).toBe(join(store.root, BTRFS_SNAPSHOT_DIRECTORY, first.name));
      expect(first.handle).toEqual({ subvolume: first.readRoot });
      expect(isInsideBtrfsSnapshotDirectory(first.readRoot)).toBe(true);
      const container = spawnSync('stat', ['-c', '%a %i', join(store.root, BTRFS_SNAPSHOT_DIRECTORY)], { encoding: 'utf8' }).stdout.trim();
      expect(container).toBe('700 256');
      const second = await store.provider.create({ sourceRoot: store.root, name: cairnSnapshotName(52, store.root), jobId: 52, createdAt: '2026-12-03T14:00:00.000Z' });
      expect(spawnSync('ls', ['-A', join(second.readRoot, BTRFS_SNAPSHOT_DIRECTORY)], { encoding: 'utf8' }).stdout).toBe('');
      // The probe never offers a snapshot as a volume to freeze.
      expect(await store.provider.probe(join(first.readRoot, 'a.txt'))).toMatchObject({ ok: false, reason: expect.stringContaining(BTRFS_SNAPSHOT_DIRECTORY) });
      await store.provider.delete(second);
      await store.provider.delete(first);
    } finally {
      await cleanup();
    }
  });

  it('refuses to delete through a handle that does not name its Cairn snapshot (a forged image never removes a live subvolume)', async () => {
    const { store, cleanup } = await openVolume();
    try {
      const name = cairnSnapshotName(53, store.root);
      const forged = { method: 'btrfs' as const, name, jobId: 53, sourceRoot: store.root, readRoot: store.root, handle: { subvolume: store.root }, createdAt: '2026-12-03T14:00:00.000Z' };
      await expect(store.provider.delete(forged)).rejects.toMatchObject({ statusCode: 156 });
      await expect(store.provider.exists(forged)).rejects.toMatchObject({ statusCode: 156 });
      expect(spawnSync('stat', ['-c', '%i', store.root], { encoding: 'utf8' }).stdout.trim()).toBe('256');
    } finally {
      await cleanup();
    }
  });

  it('probes through the names as given: a final symbolic link is on its directory\'s volume, a path through a link is refused', async () => {
    const { store, cleanup } = await openVolume();
    try {
      await symlink(join(store.root, 'dir'), join(store.root, 'link'));
      expect(await store.provider.probe(join(store.root, 'link'))).toEqual({ ok: true, sourceRoot: store.root });
      expect(await store.provider.probe(join(store.root, 'link', 'b.txt'))).toEqual({ ok: false, reason: `${join(store.root, 'link', 'b.txt')} goes through the symbolic link ${join(store.root, 'link')}: name the path it points to` });
    } finally {
      await cleanup();
    }
  });

  it('refuses a .cairn-snapshots that is not a subvolume, or that others may enter, leaving it as it was', async () => {
    const { store, cleanup } = await openVolume();
    try {
      const container = join(store.root, BTRFS_SNAPSHOT_DIRECTORY);
      await mkdir(container);
      const create = () => store.provider.create({ sourceRoot: store.root, name: cairnSnapshotName(54, store.root), jobId: 54, createdAt: '2026-12-03T14:00:00.000Z' });
      await expect(create()).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('is not a btrfs subvolume') });
      spawnSync('rmdir', [container]);
      spawnSync('btrfs', ['subvolume', 'create', container]);
      await chmod(container, 0o755);
      await expect(create()).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('owner-only') });
      expect(await store.leftovers()).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('deletes what an agent killed (-9) inside create left (as the tool starts, or once it made the image, before the agent recorded it), from the request alone (imageOf)', async () => {
    const { store, cleanup } = await openVolume();
    try {
      const made: boolean[] = [];
      for (const [round, [step, delayMs]] of ([['running btrfs subvolume snapshot', 0], ['running btrfs subvolume snapshot', 15], ['ran btrfs subvolume snapshot', 0]] as const).entries()) {
        const jobId = 60 + round;
        const child = spawn(process.execPath, ['--import', 'tsx', new URL('create-child.ts', import.meta.url).pathname, store.root, String(jobId)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let said = '';
        child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
        const ended = new Promise((resolve) => child.on('close', resolve));
        while (!said.includes(step) && child.exitCode === null) await sleep(1);
        await sleep(delayMs);
        child.kill('SIGKILL');
        await ended;
        // The btrfs tool runs in its own process group and outlives the agent: the clean-up comes after it is done.
        const name = cairnSnapshotName(jobId, store.root);
        while (await toolStillRunning(name)) await sleep(10);
        const request = { sourceRoot: store.root, name, jobId, createdAt: new Date(0).toISOString() };
        made.push(await store.provider.exists(await store.provider.imageOf!(request)));
        await store.provider.delete(await store.provider.imageOf!(request));
        expect(await store.provider.exists(await store.provider.imageOf!(request))).toBe(false);
      }
      // Killed as the tool starts, the image is there or not (the tool, once spawned, outlives the agent); killed after it, it is.
      expect(made.at(-1)).toBe(true);
      expect(await store.leftovers()).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('probes a path on another file system to a reason naming its type and device', async () => {
    const probe = await new BtrfsSnapshotProvider().probe('/proc/self');
    expect(probe).toEqual({ ok: false, reason: '/proc/self is proc on proc, not btrfs' });
  });
});

/** Whether a process whose command line names `name` (the btrfs tool making that image) still runs. */
async function toolStillRunning(name: string): Promise<boolean> {
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (commandLine.includes(name) && !commandLine.includes('vitest')) return true;
  }
  return false;
}
