import { join } from 'node:path';
import { FrozenImage } from '#core/model/snapshot.ts';
import { BTRFS_SNAPSHOT_DIRECTORY } from './btrfs-provider.ts';
import type { SnapshotRecord } from './snapshot-registry.ts';

/**
 * The image an agent that died inside `create` may have left, where the
 * method puts its images at a place the record alone determines: btrfs
 * keeps `<sourceRoot>/.cairn-snapshots/<name>` (btrfs-provider.ts). The
 * provider's `exists` and `delete` check the handle before touching
 * anything, so a wrong guess removes nothing. LVM and ZFS images also carry
 * what the provider found when it made them (volume group, dataset): no
 * guess, undefined.
 */
export function imageOfUnfinishedCreate(record: SnapshotRecord): FrozenImage | undefined {
  if (record.method !== 'btrfs') return undefined;
  const readRoot = join(record.sourceRoot, BTRFS_SNAPSHOT_DIRECTORY, record.name);
  return FrozenImage.parse({ method: 'btrfs', name: record.name, jobId: record.jobId, sourceRoot: record.sourceRoot, readRoot, handle: { subvolume: readRoot }, createdAt: record.recordedAt });
}
