import { mkdir, rmdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { FrozenImage } from '#core/model/snapshot.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeMount, isMountPoint, mountOf } from './mount-of.ts';
import { type RunTool, type ToolResult, runOrFail, runTool, snapshotError, snapshotRefusal } from './run-tool.ts';
import { checkSnapshotRequest } from './snapshot-name.ts';

/** The copy-on-write space a snapshot gets unless configured: a tenth of its origin, lvcreate's own unit for it. */
export const DEFAULT_LVM_SNAPSHOT_SIZE = '10%ORIGIN';

/**
 * Where LVM snapshots are mounted: `/run/cairn/snapshots/<name>`. /run is a
 * tmpfs (gone at reboot with the mounts on it, so no stale directory
 * outlives them) and a pseudo file system a backup of `/` never enters.
 */
export const DEFAULT_LVM_MOUNT_BASE = '/run/cairn/snapshots';

/** The tag every Cairn snapshot volume carries (`lvs @cairn` lists them). */
export const LVM_SNAPSHOT_TAG = 'cairn';

/**
 * Read-only mount options per file system: the snapshot of a mounted file
 * system looks like one that crashed, and replaying its journal would write
 * to it. ext3/4 `noload` skips the journal; xfs needs `norecovery` for the
 * same and `nouuid` because the snapshot has its origin's UUID.
 */
const MOUNT_OPTIONS: Record<string, string> = { ext2: 'ro', ext3: 'ro,noload', ext4: 'ro,noload', xfs: 'ro,nouuid,norecovery' };

/** Added to every snapshot mount: the agent only reads it, so nothing on it is ever a device, a set-user-id program or executable. */
const SAFE_MOUNT_OPTIONS = 'nodev,nosuid,noexec';

/** The fields read from `lvs --reportformat json` (real outputs: test/fixtures/snapshot/lvm/). */
const LVS_FIELDS = 'vg_name,lv_name,lv_path,lv_attr,origin,lv_tags';
const LvsReport = z.object({
  report: z.array(z.object({ lv: z.array(z.object({ vg_name: z.string(), lv_name: z.string(), lv_path: z.string(), lv_attr: z.string(), origin: z.string(), lv_tags: z.string() }).passthrough()) })).min(1),
});
type LogicalVolume = z.output<typeof LvsReport>['report'][number]['lv'][number];

/** lvcreate's arguments for the copy-on-write size: `--extents` for a percentage (`10%ORIGIN`), `--size` for an absolute size (`2G`). */
export function lvmSizeArguments(size: string): string[] {
  if (/^\d+%(ORIGIN|VG|FREE|PVS)$/.test(size)) return ['--extents', size];
  if (/^\d+(\.\d+)?[bBsSkKmMgGtTpPeE]?$/.test(size)) return ['--size', size];
  throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `invalid LVM snapshot size ${JSON.stringify(size)}: a percentage (10%ORIGIN, 20%FREE) or a size (512M, 2G)`);
}

/**
 * LVM (thick) snapshots: `lvcreate --snapshot` of the logical volume a path
 * is mounted from, mounted read-only at a Cairn mount point. The volume is
 * found by asking `lvs` about the mount's device (it accepts /dev/mapper/VG-LV
 * and /dev/VG/LV alike, and exits 5 for any other device). Thin volumes
 * (their snapshots take no size and need `-K` to activate) are refused with a
 * reason for now.
 */
export class LvmSnapshotProvider implements SnapshotProvider {
  readonly method = 'lvm' as const;
  private readonly run: RunTool;
  private readonly sizeArguments: string[];
  private readonly mountBase: string;

  constructor(options: { run?: RunTool; size?: string; mountBase?: string } = {}) {
    this.run = options.run ?? runTool;
    this.sizeArguments = lvmSizeArguments(options.size ?? DEFAULT_LVM_SNAPSHOT_SIZE);
    this.mountBase = options.mountBase ?? DEFAULT_LVM_MOUNT_BASE;
  }

  async probe(path: string): Promise<{ ok: true; sourceRoot: string } | { ok: false; reason: string }> {
    if (!path.startsWith('/')) return { ok: false, reason: `${path} is not an absolute path` };
    const found = await this.volumeOf(path);
    return 'reason' in found ? { ok: false, reason: found.reason } : { ok: true, sourceRoot: found.mountPoint };
  }

  async create(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    const { sourceRoot, name } = request;
    checkSnapshotRequest(request);
    const found = await this.volumeOf(sourceRoot);
    if ('reason' in found) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${found.reason}`);
    if (found.mountPoint !== sourceRoot) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: it is not the mount point of its logical volume (${found.mountPoint} is)`);
    const { volume, fstype } = found;
    const image = this.imageIn(volume.vg_name, request);
    const { lv: snapshot, device, mountPoint } = image.handle as { lv: string; device: string; mountPoint: string };
    if (await this.exists(image)) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${snapshot} already exists (a leftover of job ${request.jobId}: delete it first)`);

    const createArgs = ['--snapshot', ...this.sizeArguments, '--addtag', LVM_SNAPSHOT_TAG, '--name', name, `${volume.vg_name}/${volume.lv_name}`];
    const created = await this.run('lvcreate', createArgs);
    try {
      if (created.exitCode !== 0) throw snapshotError(`cannot snapshot ${sourceRoot}`, ['lvcreate', ...createArgs], created);
      await mkdir(mountPoint, { recursive: true, mode: 0o700 });
      await runOrFail(this.run, `cannot mount snapshot ${snapshot} read-only`, 'mount', ['-t', fstype, '-o', `${MOUNT_OPTIONS[fstype]!},${SAFE_MOUNT_OPTIONS}`, device, mountPoint]);
    } catch (error) {
      // Nothing half-made stays: the mount point, and a volume lvcreate made even if it then failed.
      await this.delete(image).catch(() => undefined);
      throw error instanceof CairnError ? error : snapshotError(`cannot mount snapshot ${snapshot}`, ['mkdir', mountPoint], undefined, error);
    }
    return image;
  }

  async imageOf(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    checkSnapshotRequest(request);
    const found = await this.volumeOf(request.sourceRoot);
    if ('reason' in found) throw snapshotRefusal(`cannot tell the volume group of ${request.sourceRoot}: ${found.reason}`);
    return this.imageIn(found.volume.vg_name, request);
  }

  /** The image of `request` in volume group `vg`: the snapshot volume VG/NAME, mounted at <mount base>/NAME. */
  private imageIn(vg: string, request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): FrozenImage {
    const mountPoint = join(this.mountBase, request.name);
    const handle = { lv: `${vg}/${request.name}`, device: `/dev/${vg}/${request.name}`, mountPoint };
    return FrozenImage.parse({ method: 'lvm', name: request.name, jobId: request.jobId, sourceRoot: request.sourceRoot, readRoot: mountPoint, handle, createdAt: request.createdAt });
  }

  async delete(image: FrozenImage): Promise<void> {
    const { lv, mountPoint } = this.handleOf(image);
    if (await isMountPoint(mountPoint, this.run)) await runOrFail(this.run, `cannot unmount snapshot ${lv}`, 'umount', [mountPoint]);
    await rmdir(mountPoint).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw snapshotError(`cannot remove the mount point of snapshot ${lv}`, ['rmdir', mountPoint], undefined, error);
    });
    if (!(await this.exists(image))) return;
    const args = ['-f', lv];
    const result = await this.run('lvremove', args);
    // Another delete of the same image may have won the race.
    if (result.exitCode !== 0 && (await this.exists(image))) throw snapshotError(`cannot delete snapshot ${lv}`, ['lvremove', ...args], result);
  }

  async exists(image: FrozenImage): Promise<boolean> {
    const { lv } = this.handleOf(image);
    const args = ['--reportformat', 'json', '-o', LVS_FIELDS, lv];
    const result = await this.run('lvs', args);
    // The volume, or its whole group (a disk that went away), is not there.
    if (result.exitCode !== 0 && /Failed to find logical volume|Volume group "[^"]*" not found/.test(result.stderr)) return false;
    if (result.exitCode !== 0) throw snapshotError(`cannot tell whether snapshot ${lv} exists`, ['lvs', ...args], result);
    return parseLvs(result, ['lvs', ...args]).some((v) => `${v.vg_name}/${v.lv_name}` === lv);
  }

  /** The handle, checked: a forged one must never make `delete` unmount or remove a volume that is not this Cairn snapshot. */
  private handleOf(image: FrozenImage): { lv: string; mountPoint: string } {
    const lv = image.handle.lv ?? '';
    const mountPoint = image.handle.mountPoint ?? '';
    const [vg, name, ...rest] = lv.split('/');
    if (!vg || name !== image.name || rest.length > 0 || vg.startsWith('-') || basename(mountPoint) !== image.name || !mountPoint.startsWith('/') || resolve(mountPoint) !== mountPoint) {
      throw snapshotRefusal(`refusing LVM snapshot ${image.name}: its handle ${JSON.stringify(image.handle)} does not name VG/${image.name} and a mount point …/${image.name}`);
    }
    return { lv, mountPoint };
  }

  /** The logical volume `path` is mounted from, its mount point and file system, or why it cannot be frozen. */
  private async volumeOf(path: string): Promise<{ volume: LogicalVolume; mountPoint: string; fstype: string } | { reason: string }> {
    const mount = await mountOf(path, this.run);
    if (!mount) return { reason: `${path} does not exist` };
    if (!mount.source.startsWith('/dev/')) return { reason: `${describeMount(path, mount)}, not on an LVM logical volume` };
    const args = ['--reportformat', 'json', '-o', LVS_FIELDS, mount.source];
    const result = await this.run('lvs', args);
    // lvs reads any other device as a volume group name: "Volume group "sda1" not found", exit 5.
    if (result.exitCode === 5 && /not found/.test(result.stderr)) return { reason: `${describeMount(path, mount)}, not on an LVM logical volume` };
    if (result.exitCode !== 0) return { reason: `${describeMount(path, mount)}; lvs failed: ${snapshotError('lvs', ['lvs', ...args], result).message}` };
    const volume = parseLvs(result, ['lvs', ...args])[0];
    if (volume === undefined) return { reason: `${describeMount(path, mount)}, not on an LVM logical volume` };
    const kind = volume.lv_attr[0];
    if (kind === 's' || kind === 'S') return { reason: `${describeMount(path, mount)}, itself an LVM snapshot` };
    if (kind === 'V') return { reason: `${describeMount(path, mount)}, a thin logical volume (thin snapshots are not supported yet)` };
    if (MOUNT_OPTIONS[mount.fstype] === undefined) return { reason: `${describeMount(path, mount)}: an LVM snapshot is mounted read-only only for ${Object.keys(MOUNT_OPTIONS).join(', ')}` };
    return { volume, mountPoint: mount.target, fstype: mount.fstype };
  }
}

function parseLvs(result: ToolResult, command: string[]): LogicalVolume[] {
  try {
    return LvsReport.parse(JSON.parse(result.stdout)).report.flatMap((r) => r.lv);
  } catch (error) {
    throw snapshotError('cannot read the report of lvs', command, result, error);
  }
}
