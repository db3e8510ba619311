import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { probeLocalFileSystems } from '#agent/probe/probe.ts';
import { loopMounts, loopSkipReason } from '#test/support/loop-ext4.ts';

const WORK = '/tmp/i11-all-streams/probe';

/**
 * `df --local` as the independent witness of this machine's local file
 * systems: coreutils reads the same table through its own code, leaves out
 * network and dummy file systems, and shows a file system mounted several
 * times once. Memory-backed and read-only-media types are taken out of its
 * answer, as the probe's rule says.
 */
function dfLocalMountPoints(): string[] {
  const lines = execFileSync('df', ['--local', '--output=target,fstype'], { encoding: 'utf8' }).trim().split('\n').slice(1);
  const leftOut = new Set(['tmpfs', 'devtmpfs', 'ramfs', 'squashfs', 'iso9660', 'udf', 'overlay']);
  return lines
    .map((line) => /^(.*\S)\s+(\S+)$/.exec(line.trim())!)
    .filter(([, target, type]) => !leftOut.has(type!) || (type === 'overlay' && target === '/'))
    .map(([, target]) => target!)
    .sort();
}

describe('ALL on this machine', () => {
  it('lists its real local file systems, the ones df --local shows (other tests may mount and unmount meanwhile: compared up to 5 times)', async () => {
    let probed: string[] = [];
    let witness: string[] = [];
    for (let i = 0; i < 5; i++) {
      probed = (await probeLocalFileSystems()).fileSystems.map((fs) => fs.mountPoint).sort();
      witness = dfLocalMountPoints();
      if (JSON.stringify(probed) === JSON.stringify(witness)) break;
    }
    expect(probed).toEqual(witness);
    expect(probed).toContain('/');
    expect(probed).not.toContain('/proc');
    expect(probed).not.toContain('/dev/shm');
  });
});

describe.skipIf(loopSkipReason())('ALL with file systems this test mounts', () => {
  const mounts = loopMounts();
  beforeAll(() => {
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    mounts.ext4(`${WORK}/disk.img`, `${WORK}/data with space`);
    mkdirSync(`${WORK}/data with space/sub`);
    mounts.mount(['--bind', `${WORK}/data with space/sub`], `${WORK}/bound`);
    mounts.mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], `${WORK}/scratch`);
  });
  afterAll(() => {
    mounts.unmountAll();
    rmSync(WORK, { recursive: true, force: true });
  });

  it('lists a loop-mounted ext4 (its name with a space), and neither its bind mount nor a tmpfs', async () => {
    const { fileSystems, skipped } = await probeLocalFileSystems();
    const here = fileSystems.filter((fs) => fs.mountPoint.startsWith(WORK));
    expect(here).toEqual([expect.objectContaining({ mountPoint: `${WORK}/data with space`, fsType: 'ext4' })]);
    expect(here[0]!.source).toMatch(/^\/dev\/loop\d+$/);
    expect(skipped).toContainEqual({ mountPoint: `${WORK}/bound`, fsType: 'ext4', reason: `bind mount or duplicate of ${WORK}/data with space (root /sub of the same file system)` });
    expect(skipped).toContainEqual({ mountPoint: `${WORK}/scratch`, fsType: 'tmpfs', reason: 'pseudo file system (tmpfs)' });
  });
});
