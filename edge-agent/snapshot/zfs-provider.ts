import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FrozenImage } from '#core/model/snapshot.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { describeMount, mountOf } from './mount-of.ts';
import { type RunTool, runTool, snapshotError, snapshotRefusal } from './run-tool.ts';
import { checkSnapshotRequest } from './snapshot-name.ts';

/** The user property every Cairn snapshot carries: the job that made it (`zfs get cairn:job`). */
export const ZFS_JOB_PROPERTY = 'cairn:job';

/** Whether a directory can be read: the snapshot's `.zfs/snapshot/NAME` is mounted on first access. */
export type IsDirectory = (path: string) => Promise<boolean>;

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * ZFS snapshots (`zfs snapshot DATASET@NAME`), read through the dataset's
 * `.zfs/snapshot/NAME` (there whatever `snapdir` says: hidden only hides it
 * from directory listings). findmnt gives the dataset a path is mounted
 * from (a ZFS mount's source is the dataset's name) and its mount point,
 * also for `mountpoint=legacy`; `zfs list` confirms it is a file system.
 * A live backup never reads other snapshots as data: `.zfs` is not listed
 * (snapdir=hidden) and, if made visible, each snapshot under it is its own
 * mount, which a reader that stays on one file system does not enter.
 */
export class ZfsSnapshotProvider implements SnapshotProvider {
  readonly method = 'zfs' as const;
  private readonly run: RunTool;
  private readonly isDirectory: IsDirectory;

  constructor(options: { run?: RunTool; isDirectory?: IsDirectory } = {}) {
    this.run = options.run ?? runTool;
    this.isDirectory = options.isDirectory ?? isDirectory;
  }

  async probe(path: string): Promise<{ ok: true; sourceRoot: string } | { ok: false; reason: string }> {
    if (!path.startsWith('/')) return { ok: false, reason: `${path} is not an absolute path` };
    const found = await this.datasetOf(path);
    return 'reason' in found ? { ok: false, reason: found.reason } : { ok: true, sourceRoot: found.mountPoint };
  }

  async create(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    const { sourceRoot, name } = request;
    checkSnapshotRequest(request);
    const found = await this.datasetOf(sourceRoot);
    if ('reason' in found) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${found.reason}`);
    if (found.mountPoint !== sourceRoot) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: it is not the mount point of its dataset (${found.mountPoint} is)`);
    const image = imageIn(found.dataset, request);
    const { readRoot } = image;
    const snapshot = `${found.dataset}@${name}`;
    if (await this.exists(image)) throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${snapshot} already exists (a leftover of job ${request.jobId}: delete it first)`);
    const args = ['snapshot', '-o', `${ZFS_JOB_PROPERTY}=${request.jobId}`, snapshot];
    const result = await this.run('zfs', args);
    if (result.exitCode !== 0) {
      await this.delete(image).catch(() => undefined);
      throw snapshotError(`cannot snapshot ${sourceRoot}`, ['zfs', ...args], result);
    }
    if (!(await this.isDirectory(readRoot))) {
      await this.delete(image).catch(() => undefined);
      throw snapshotRefusal(`cannot read snapshot ${snapshot}: ${readRoot} is not a directory after \`zfs snapshot\``);
    }
    return image;
  }

  async imageOf(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    checkSnapshotRequest(request);
    const found = await this.datasetOf(request.sourceRoot);
    if ('reason' in found) throw snapshotRefusal(`cannot tell the dataset of ${request.sourceRoot}: ${found.reason}`);
    return imageIn(found.dataset, request);
  }

  async delete(image: FrozenImage): Promise<void> {
    const snapshot = this.snapshotOf(image);
    if (!(await this.exists(image))) return;
    const args = ['destroy', snapshot];
    const result = await this.run('zfs', args);
    // Another delete of the same image may have won the race.
    if (result.exitCode !== 0 && (await this.exists(image))) throw snapshotError(`cannot delete snapshot ${snapshot}`, ['zfs', ...args], result);
  }

  async exists(image: FrozenImage): Promise<boolean> {
    const snapshot = this.snapshotOf(image);
    const args = ['list', '-H', '-p', '-o', 'name', '-t', 'snapshot', snapshot];
    const result = await this.run('zfs', args);
    if (result.exitCode !== 0 && /dataset does not exist/.test(result.stderr)) return false;
    if (result.exitCode !== 0) throw snapshotError(`cannot tell whether snapshot ${snapshot} exists`, ['zfs', ...args], result);
    return result.stdout.split('\n').includes(snapshot);
  }

  /** `DATASET@NAME`, checked: a forged handle must never make `delete` destroy a dataset or another snapshot. */
  private snapshotOf(image: FrozenImage): string {
    const snapshot = image.handle.snapshot ?? '';
    const at = snapshot.indexOf('@');
    if (at <= 0 || snapshot.slice(at + 1) !== image.name || snapshot.startsWith('-')) {
      throw snapshotRefusal(`refusing ZFS snapshot ${image.name}: its handle ${JSON.stringify(image.handle)} does not name DATASET@${image.name}`);
    }
    return snapshot;
  }

  /** The dataset `path` is mounted from and its mount point, or why it cannot be frozen. */
  private async datasetOf(path: string): Promise<{ dataset: string; mountPoint: string } | { reason: string }> {
    const mount = await mountOf(path, this.run);
    if (!mount) return { reason: `${path} does not exist` };
    if (mount.fstype !== 'zfs') return { reason: `${describeMount(path, mount)}, not ZFS` };
    const args = ['list', '-H', '-p', '-o', 'name,type,mountpoint', mount.source];
    const result = await this.run('zfs', args);
    if (result.exitCode !== 0) return { reason: `${describeMount(path, mount)}; ${snapshotError('zfs list', ['zfs', ...args], result).message}` };
    const [name, type] = (result.stdout.split('\n')[0] ?? '').split('\t');
    if (name !== mount.source) return { reason: `${describeMount(path, mount)}; zfs list does not list that dataset` };
    if (type !== 'filesystem') return { reason: `${describeMount(path, mount)}, a ZFS ${type ?? 'dataset'} (only file systems are frozen)` };
    return { dataset: name, mountPoint: mount.target };
  }
}

/** The image of `request` in `dataset`: DATASET@NAME, read at <sourceRoot>/.zfs/snapshot/NAME. */
function imageIn(dataset: string, request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): FrozenImage {
  const readRoot = join(request.sourceRoot, '.zfs', 'snapshot', request.name);
  return FrozenImage.parse({ method: 'zfs', name: request.name, jobId: request.jobId, sourceRoot: request.sourceRoot, readRoot, handle: { snapshot: `${dataset}@${request.name}` }, createdAt: request.createdAt });
}
