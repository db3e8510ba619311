import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';

/**
 * Real ext4 file systems on loop devices for tests that need mounts (the
 * probe, multiple data streams). Root, losetup and mkfs.ext4 are needed:
 * `loopSkipReason()` says which is missing, for `describe.skipIf`.
 * Every mount this helper makes is undone by `unmountAll` (call it in
 * afterAll, so a failing test leaves no mount or loop device behind).
 */
export function loopSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount loop devices';
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (spawnSync('losetup', ['-f']).status !== 0) return 'no free loop device';
  return undefined;
}

export interface LoopMounts {
  /** Makes an ext4 image of `sizeMiB` at `image`, attaches it to a loop device and mounts it at `mountPoint`. */
  ext4(image: string, mountPoint: string, sizeMiB?: number): { device: string };
  /** Any other mount (a bind mount, a tmpfs), undone with the rest. */
  mount(args: string[], mountPoint: string): void;
  unmountAll(): void;
}

export function loopMounts(): LoopMounts {
  const mounted: string[] = [];
  const devices: string[] = [];
  return {
    ext4(image, mountPoint, sizeMiB = 16) {
      rmSync(image, { force: true });
      execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image]);
      const device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
      devices.push(device);
      mkdirSync(mountPoint, { recursive: true });
      execFileSync('mount', [device, mountPoint]);
      mounted.push(mountPoint);
      return { device };
    },
    mount(args, mountPoint) {
      mkdirSync(mountPoint, { recursive: true });
      execFileSync('mount', [...args, mountPoint]);
      mounted.push(mountPoint);
    },
    unmountAll() {
      for (const point of mounted.splice(0).reverse()) spawnSync('umount', [point]);
      for (const device of devices.splice(0).reverse()) spawnSync('losetup', ['-d', device]);
    },
  };
}
