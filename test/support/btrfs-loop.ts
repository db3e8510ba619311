import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A real btrfs file system in a sparse file, loop-mounted (tests and the
 * snapshot bench). Needs root, /dev/loop-control and mkfs.btrfs:
 * `btrfsLoopSkipReason()` says which is missing, as a one-line skip reason.
 */
export interface BtrfsLoop {
  /** Where it is mounted. */
  mountPoint: string;
  /** Makes a subvolume at `mountPoint/name` and returns its path. */
  subvolume(name: string): string;
  /** Unmounts it (the loop device goes with it: mount -o loop sets autoclear) and removes its files. */
  destroy(): Promise<void>;
}

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Why a btrfs loop file system cannot be made here, or undefined when it can. */
export function btrfsLoopSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'loop devices and btrfs need Linux';
  if (process.getuid?.() !== 0) return 'loop devices and mounts need root';
  if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control is missing)';
  for (const tool of ['mkfs.btrfs', 'btrfs', 'losetup', 'findmnt']) if (!which(tool)) return `${tool} is not installed (btrfs-progs, util-linux)`;
  return undefined;
}

function run(file: string, args: string[]): string {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return result.stdout;
}

/** Makes and mounts a btrfs file system of `bytes` (sparse) under `directory` (e.g. /tmp/<branch>/...). */
export async function makeBtrfsLoop(directory: string, bytes = 256 * 1024 * 1024): Promise<BtrfsLoop> {
  await mkdir(directory, { recursive: true });
  const file = join(directory, 'btrfs.img');
  const mountPoint = join(directory, 'mnt');
  await mkdir(mountPoint, { recursive: true });
  run('truncate', ['-s', String(bytes), file]);
  run('mkfs.btrfs', ['-q', '-f', file]);
  run('mount', ['-o', 'loop', file, mountPoint]);
  return {
    mountPoint,
    subvolume(name) {
      const path = join(mountPoint, name);
      run('btrfs', ['subvolume', 'create', path]);
      return path;
    },
    async destroy() {
      // Lazy unmount if a test left a file open in it; the loop device is released with the last reference.
      const unmounted = spawnSync('umount', [mountPoint]).status === 0 || spawnSync('umount', ['-l', mountPoint]).status === 0;
      if (unmounted) await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Deletes every subvolume under `path` (deepest first: a subvolume holding another cannot be deleted before it), then `path` itself if it is one. */
export function deleteSubvolumeTree(mountPoint: string, path: string): void {
  // `list -o` names the subvolumes directly below `path`, relative to the top-level subvolume (mounted at mountPoint).
  const below = run('btrfs', ['subvolume', 'list', '-o', path])
    .split('\n')
    .map((line) => /path (.*)$/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => join(mountPoint, p));
  for (const inner of below.sort((a, b) => b.length - a.length)) deleteSubvolumeTree(mountPoint, inner);
  run('btrfs', ['subvolume', 'delete', path]);
}
