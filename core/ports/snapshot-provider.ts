import type { FrozenImage, SnapshotMethod } from '../model/snapshot.ts';

/**
 * A frozen-image method on the agent (NetBackup's snapshot methods): btrfs
 * read-only subvolume snapshots, LVM snapshot volumes mounted read-only, ZFS
 * snapshots read through `.zfs/snapshot`. Adapters live in
 * edge-agent/snapshot/; one contract suite (test/contracts/) runs against
 * each where its tools and a device exist, and skips with a reason otherwise.
 * `none` (the live file system with change detection) is not a provider: it
 * is the reader's behaviour when no image covers a path.
 *
 * Contract:
 * - `probe(path)` never changes anything. It says whether this method can
 *   freeze the file system `path` lives on and, if so, the root of the volume
 *   it would freeze (the subvolume, LV mount point or dataset mount point
 *   that contains `path`); otherwise a reason an administrator can act on
 *   ("/srv is ext4 on /dev/sda2, not btrfs").
 * - `create` makes a read-only image of `sourceRoot` named `name` (see
 *   cairnSnapshotName) and resolves only once the image is readable at
 *   `readRoot`; what `readRoot` shows never changes afterwards, whatever is
 *   written to the live volume. It rejects with a CairnError of status 156
 *   (SNAPSHOT_ERROR) naming the command and what the tool said, and leaves
 *   nothing behind (a half-made image is removed before rejecting).
 * - `delete` removes the image and anything made for it (mount point,
 *   snapshot volume). It resolves when the image is already gone, so it may
 *   run on every path of a job and again after a crash. Failure: status 156.
 * - `exists` says whether the image is still there (for `cairn snapshot list`
 *   and for clean-up at the agent's start).
 * - `imageOf` (the providers in edge-agent/snapshot/ all have it) gives the
 *   image `create` makes for the same request, whether or not it exists,
 *   without changing anything: what deletes the image of an agent killed
 *   inside `create`, which recorded only the request. It rejects (156) when
 *   the volume cannot be told any more (an LV no longer mounted there).
 */
export interface SnapshotProvider {
  readonly method: SnapshotMethod;
  probe(path: string): Promise<{ ok: true; sourceRoot: string } | { ok: false; reason: string }>;
  create(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage>;
  delete(image: FrozenImage): Promise<void>;
  exists(image: FrozenImage): Promise<boolean>;
  imageOf?(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage>;
}
