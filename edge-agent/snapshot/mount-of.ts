import { z } from 'zod';
import { type RunTool, snapshotError } from './run-tool.ts';

/** The mounted file system a path lives on, as findmnt reports it. */
export interface MountInfo {
  /** Its mount point. */
  target: string;
  /** The device (`/dev/mapper/vg-lv`), dataset (`tank/home`) or other source, without the `[/subvolume]` findmnt adds for a btrfs subvolume mount. */
  source: string;
  fstype: string;
}

const FindmntReport = z.object({
  filesystems: z.array(z.object({ target: z.string(), source: z.string(), fstype: z.string() }).passthrough()).min(1),
});

/**
 * `findmnt -J -T PATH -o TARGET,SOURCE,FSTYPE`: the file system `path`
 * lives on, or undefined when findmnt finds none (it exits 1 for a path
 * that does not exist: it does not walk up past a missing component).
 */
export async function mountOf(path: string, run: RunTool): Promise<MountInfo | undefined> {
  const args = ['-J', '-T', path, '-o', 'TARGET,SOURCE,FSTYPE'];
  const result = await run('findmnt', args);
  if (result.exitCode === 1 && result.stdout.trim() === '') return undefined;
  if (result.exitCode !== 0) throw snapshotError(`cannot tell which file system ${path} is on`, ['findmnt', ...args], result);
  let found: z.output<typeof FindmntReport>['filesystems'][number];
  try {
    found = FindmntReport.parse(JSON.parse(result.stdout)).filesystems[0]!;
  } catch (error) {
    throw snapshotError(`cannot read findmnt's report on ${path}`, ['findmnt', ...args], result, error);
  }
  return { target: found.target, source: found.source.replace(/\[[^\]]*\]$/, ''), fstype: found.fstype };
}

/** Whether `path` is itself a mount point (`findmnt --mountpoint`: exit 1 when it is not). */
export async function isMountPoint(path: string, run: RunTool): Promise<boolean> {
  const args = ['-n', '-o', 'TARGET', '--mountpoint', path];
  const result = await run('findmnt', args);
  if (result.exitCode === 1) return false;
  if (result.exitCode !== 0) throw snapshotError(`cannot tell whether ${path} is mounted`, ['findmnt', ...args], result);
  return true;
}

/** "`/srv` is ext4 on /dev/sda2": how a probe names where a path lives. */
export function describeMount(path: string, mount: MountInfo): string {
  return `${path} is ${mount.fstype} on ${mount.source}`;
}
