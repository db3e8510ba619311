import type { SnapshotMethod } from '#core/model/snapshot.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { BtrfsSnapshotProvider } from './btrfs-provider.ts';
import { LvmSnapshotProvider } from './lvm-provider.ts';
import { type RunTool, runTool } from './run-tool.ts';
import { ZfsSnapshotProvider } from './zfs-provider.ts';

/** The order `auto` tries the methods in: btrfs before LVM, so btrfs on a logical volume is frozen by btrfs (the LVM provider refuses btrfs anyway). */
const AUTO_ORDER: readonly SnapshotMethod[] = ['btrfs', 'lvm', 'zfs'];

/**
 * Every snapshot provider of the agent, on the real tools unless `run` is
 * given. `lvmSnapshotSize` is lvcreate's copy-on-write size: a percentage
 * (`10%ORIGIN`, the default, passed as --extents) or a size (`2G`, --size);
 * an invalid one throws status 20 here, not at the first job.
 */
export function openSnapshotProviders(options: { lvmSnapshotSize?: string; run?: RunTool } = {}): Record<SnapshotMethod, SnapshotProvider> {
  const run = options.run ?? runTool;
  return {
    btrfs: new BtrfsSnapshotProvider({ run }),
    lvm: new LvmSnapshotProvider({ run, size: options.lvmSnapshotSize }),
    zfs: new ZfsSnapshotProvider({ run }),
  };
}

/**
 * The `auto` choice for one selection: the first provider (btrfs, LVM, ZFS)
 * whose probe accepts `path`, with the volume root it would freeze, or
 * `none` and why every provider refused (each reason names the file system
 * type and device: "/srv is ext4 on /dev/sda2, not btrfs").
 */
export async function chooseSnapshotMethod(
  path: string,
  providers: Record<SnapshotMethod, SnapshotProvider>,
): Promise<{ method: SnapshotMethod; sourceRoot: string } | { method: 'none'; reason: string }> {
  const reasons: string[] = [];
  for (const method of AUTO_ORDER) {
    const probe = await providers[method].probe(path);
    if (probe.ok) return { method, sourceRoot: probe.sourceRoot };
    reasons.push(`${method}: ${probe.reason}`);
  }
  return { method: 'none', reason: `no snapshot method can freeze ${path} (${reasons.join('; ')})` };
}
