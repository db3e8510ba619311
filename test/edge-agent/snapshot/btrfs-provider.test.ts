import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
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

  it('probes a path on another file system to a reason naming its type and device', async () => {
    const probe = await new BtrfsSnapshotProvider().probe('/proc/self');
    expect(probe).toEqual({ ok: false, reason: '/proc/self is proc on proc, not btrfs' });
  });
});
