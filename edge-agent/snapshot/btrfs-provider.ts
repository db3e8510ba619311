import { chmod, lstat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FrozenImage } from '#core/model/snapshot.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { describeMount, mountOf } from './mount-of.ts';
import { type RunTool, runTool, snapshotError, snapshotRefusal } from './run-tool.ts';
import { checkSnapshotRequest } from './snapshot-name.ts';

/**
 * Where the btrfs provider keeps its snapshots: a subvolume of this name at
 * the root of each subvolume it freezes (`<sourceRoot>/.cairn-snapshots/<name>`),
 * as snapper keeps `.snapshots`. A snapshot must be on the same file system
 * as its source, and this is the one place on it Cairn can always write to.
 * A snapshot is never backed up as data by a later job because:
 * - btrfs snapshots are not recursive: the frozen image of the source shows
 *   `.cairn-snapshots` as an empty directory, never the images inside it;
 * - being a subvolume of its own, it has its own device number, so a reader
 *   that stays on one file system (crossMountPoints: false) never enters it;
 * - it is owner-only (0700), and the reader can also exclude it by name
 *   (`isInsideBtrfsSnapshotDirectory`).
 * It stays when its last image is deleted (removing it would race another
 * job creating an image of the same subvolume).
 */
export const BTRFS_SNAPSHOT_DIRECTORY = '.cairn-snapshots';

/** btrfs gives the root directory of every subvolume this inode number (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INODE = 256;

/** Whether `path` is or lies inside a Cairn btrfs snapshot directory. */
export function isInsideBtrfsSnapshotDirectory(path: string): boolean {
  return path.split('/').includes(BTRFS_SNAPSHOT_DIRECTORY);
}

/**
 * Read-only btrfs subvolume snapshots (`btrfs subvolume snapshot -r`). The
 * volume a path lives on is the deepest subvolume containing it: walking up
 * from the path on the same device, the first directory with inode 256.
 */
export class BtrfsSnapshotProvider implements SnapshotProvider {
  readonly method = 'btrfs' as const;
  private readonly run: RunTool;

  constructor(options: { run?: RunTool } = {}) {
    this.run = options.run ?? runTool;
  }

  async probe(path: string): Promise<{ ok: true; sourceRoot: string } | { ok: false; reason: string }> {
    if (!path.startsWith('/')) return { ok: false, reason: `${path} is not an absolute path` };
    const mount = await mountOf(path, this.run);
    if (!mount) return { ok: false, reason: `${path} does not exist` };
    if (mount.fstype !== 'btrfs') return { ok: false, reason: `${describeMount(path, mount)}, not btrfs` };
    if (isInsideBtrfsSnapshotDirectory(path)) return { ok: false, reason: `${path} is inside Cairn's snapshot directory (${BTRFS_SNAPSHOT_DIRECTORY})` };
    const root = await subvolumeRootOf(resolve(path));
    if (typeof root !== 'string') return { ok: false, reason: root.reason };
    return { ok: true, sourceRoot: root };
  }

  async create(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    const { sourceRoot } = request;
    checkSnapshotRequest(request);
    if (!(await isSubvolumeRoot(sourceRoot)) || (await mountOf(sourceRoot, this.run))?.fstype !== 'btrfs') {
      throw snapshotRefusal(`cannot snapshot ${sourceRoot}: it is not the root of a btrfs subvolume`);
    }
    const image = await this.imageOf(request);
    const { readRoot } = image;
    await this.snapshotDirectory(sourceRoot);
    if ((await lstat(readRoot).catch(() => undefined)) !== undefined) {
      throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${readRoot} already exists (a leftover of job ${request.jobId}: delete it first)`);
    }
    const args = ['subvolume', 'snapshot', '-r', sourceRoot, readRoot];
    const result = await this.run('btrfs', args);
    if (result.exitCode !== 0) {
      // A snapshot that appeared although the tool failed is removed: nothing half-made stays.
      await this.delete(image).catch(() => undefined);
      throw snapshotError(`cannot snapshot ${sourceRoot}`, ['btrfs', ...args], result);
    }
    return image;
  }

  async imageOf(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): Promise<FrozenImage> {
    checkSnapshotRequest(request);
    const readRoot = join(request.sourceRoot, BTRFS_SNAPSHOT_DIRECTORY, request.name);
    return FrozenImage.parse({ method: 'btrfs', name: request.name, jobId: request.jobId, sourceRoot: request.sourceRoot, readRoot, handle: { subvolume: readRoot }, createdAt: request.createdAt });
  }

  async delete(image: FrozenImage): Promise<void> {
    const subvolume = this.subvolumeOf(image);
    if (!(await isSubvolumeRoot(subvolume))) return;
    const args = ['subvolume', 'delete', subvolume];
    const result = await this.run('btrfs', args);
    // Another delete of the same image (a retry, the clean-up at start) may have won the race.
    if (result.exitCode !== 0 && (await isSubvolumeRoot(subvolume))) throw snapshotError(`cannot delete snapshot ${image.name}`, ['btrfs', ...args], result);
  }

  async exists(image: FrozenImage): Promise<boolean> {
    return isSubvolumeRoot(this.subvolumeOf(image));
  }

  /**
   * The image's subvolume, checked: a forged or corrupted handle must never
   * make `delete` remove a subvolume that is not a Cairn snapshot.
   */
  private subvolumeOf(image: FrozenImage): string {
    const subvolume = image.handle.subvolume ?? image.readRoot;
    if (!subvolume.startsWith('/') || basename(subvolume) !== image.name || basename(dirname(subvolume)) !== BTRFS_SNAPSHOT_DIRECTORY || subvolume !== resolve(subvolume)) {
      throw snapshotRefusal(`refusing btrfs snapshot ${image.name}: its subvolume ${subvolume} is not <subvolume>/${BTRFS_SNAPSHOT_DIRECTORY}/${image.name}`);
    }
    return subvolume;
  }

  /** `<sourceRoot>/.cairn-snapshots`, made a subvolume (owner-only) the first time. */
  private async snapshotDirectory(sourceRoot: string): Promise<string> {
    const directory = join(sourceRoot, BTRFS_SNAPSHOT_DIRECTORY);
    const found = await lstat(directory).catch(() => undefined);
    if (found === undefined) {
      const args = ['subvolume', 'create', directory];
      const result = await this.run('btrfs', args);
      // Two jobs of the same subvolume may both create it: the loser finds it made.
      if (result.exitCode !== 0 && !(await isSubvolumeRoot(directory))) throw snapshotError(`cannot make Cairn's snapshot directory in ${sourceRoot}`, ['btrfs', ...args], result);
      await chmod(directory, 0o700);
    } else if (!(await isSubvolumeRoot(directory))) {
      throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${directory} exists and is not a btrfs subvolume (move it away)`);
    } else if (found.uid !== process.getuid?.() || (found.mode & 0o077) !== 0) {
      // A user who made it could rename the images in it (leaking them) or read a copy of a directory closed to them since.
      throw snapshotRefusal(`cannot snapshot ${sourceRoot}: ${directory} is not the agent's own (owner ${found.uid}, mode ${(found.mode & 0o777).toString(8)}; it must be owner-only): move it away`);
    }
    return directory;
  }
}

/** Whether `path` is the root directory of a btrfs subvolume (not following a final symbolic link). */
async function isSubvolumeRoot(path: string): Promise<boolean> {
  const found = await lstat(path).catch(() => undefined);
  return found !== undefined && found.isDirectory() && found.ino === SUBVOLUME_ROOT_INODE;
}

/**
 * The deepest subvolume root containing `path`: up from it on the same
 * device, the first directory with inode 256. The walk is on the names as
 * given (lstat), so the root is a prefix of `path` and the frozen image maps
 * back to the original names; a path through a symbolic link is refused
 * (which volume it is on would differ from the names the reader records).
 * A final symbolic link is the link itself, which its directory holds.
 */
async function subvolumeRootOf(path: string): Promise<string | { reason: string }> {
  const start = await lstat(path).catch(() => undefined);
  if (start === undefined) return { reason: `${path} does not exist` };
  let directory = start.isDirectory() ? path : dirname(path);
  const device = start.isDirectory() ? start.dev : (await lstat(directory)).dev;
  for (;;) {
    const found = await lstat(directory).catch(() => undefined);
    if (found === undefined) return { reason: `${directory} cannot be read` };
    if (found.isSymbolicLink()) return { reason: `${path} goes through the symbolic link ${directory}: name the path it points to` };
    if (found.dev !== device || directory === '/') return { reason: `${path} is on btrfs but no subvolume root was found above it` };
    if (found.ino === SUBVOLUME_ROOT_INODE) return directory;
    directory = dirname(directory);
  }
}
