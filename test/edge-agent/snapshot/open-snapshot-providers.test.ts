import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseSnapshotMethod, openSnapshotProviders } from '#agent/snapshot/open-snapshot-providers.ts';
import { type BtrfsLoop, btrfsLoopSkipReason, makeBtrfsLoop } from '#test/support/btrfs-loop.ts';
import { findmntReport, fixture, scriptedRunner } from './scripted-runner.ts';

const FIELDS = 'vg_name,lv_name,lv_path,lv_attr,origin,lv_tags';
const findmnt = (path: string, stdout: string) => ({ command: ['findmnt', '-J', '-T', path, '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout } });

describe('chooseSnapshotMethod (auto) on the tools\' outputs', () => {
  it('opens one provider per method', () => {
    const providers = openSnapshotProviders();
    expect(Object.fromEntries(Object.entries(providers).map(([method, provider]) => [method, provider.method]))).toEqual({ btrfs: 'btrfs', lvm: 'lvm', zfs: 'zfs' });
  });

  it('picks LVM for a path on an ext4 logical volume, after btrfs refused it', async () => {
    const ext4OnLv = findmntReport('/srv', '/dev/mapper/i11snapvg-data', 'ext4');
    const { run, remaining } = scriptedRunner([
      findmnt('/srv/www', ext4OnLv),
      findmnt('/srv/www', ext4OnLv),
      { command: ['lvs', '--reportformat', 'json', '-o', FIELDS, '/dev/mapper/i11snapvg-data'], result: { stdout: fixture('lvs-logical-volume.json') } },
    ]);
    expect(await chooseSnapshotMethod('/srv/www', openSnapshotProviders({ run }))).toEqual({ method: 'lvm', sourceRoot: '/srv' });
    expect(remaining()).toEqual([]);
  });

  it('picks ZFS for a path on a dataset', async () => {
    const zfs = findmntReport('/tank/home', 'tank/home', 'zfs');
    const { run } = scriptedRunner([
      findmnt('/tank/home/a', zfs),
      findmnt('/tank/home/a', zfs),
      findmnt('/tank/home/a', zfs),
      { command: ['zfs', 'list', '-H', '-p', '-o', 'name,type,mountpoint', 'tank/home'], result: { stdout: 'tank/home\tfilesystem\t/tank/home\n' } },
    ]);
    expect(await chooseSnapshotMethod('/tank/home/a', openSnapshotProviders({ run }))).toEqual({ method: 'zfs', sourceRoot: '/tank/home' });
  });

  it('falls back to none with every provider\'s reason, naming the file system type and device', async () => {
    const plain = fixture('findmnt-ext4-loop.json');
    const { run } = scriptedRunner([
      findmnt('/data', plain),
      findmnt('/data', plain),
      { command: ['lvs', '--reportformat', 'json', '-o', FIELDS, '/dev/loop2'], result: { exitCode: 5, stdout: fixture('lvs-not-a-volume.json'), stderr: fixture('lvs-not-a-volume.stderr').replaceAll('loop0', 'loop2') } },
      findmnt('/data', plain),
    ]);
    expect(await chooseSnapshotMethod('/data', openSnapshotProviders({ run }))).toEqual({
      method: 'none',
      reason: 'no snapshot method can freeze /data (btrfs: /data is ext4 on /dev/loop2, not btrfs; lvm: /data is ext4 on /dev/loop2, not on an LVM logical volume; zfs: /data is ext4 on /dev/loop2, not ZFS)',
    });
  });
});

const skipReason = btrfsLoopSkipReason();
describe.skipIf(Boolean(skipReason))(`chooseSnapshotMethod on this machine's tools${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let loop: BtrfsLoop | undefined;
  afterAll(async () => {
    await loop?.destroy();
  });

  it('picks btrfs and the subvolume for a path on a btrfs loop device, and none for the root file system, naming its type', async () => {
    loop = await makeBtrfsLoop(`/tmp/i11-snap-providers/choose-${process.pid}`);
    const volume = loop.subvolume('home');
    const providers = openSnapshotProviders();
    expect(await chooseSnapshotMethod(`${volume}/`, providers)).toEqual({ method: 'btrfs', sourceRoot: volume });
    expect(await chooseSnapshotMethod(loop.mountPoint, providers)).toEqual({ method: 'btrfs', sourceRoot: loop.mountPoint });
    const root = await chooseSnapshotMethod('/etc', providers);
    expect(root.method).toBe('none');
    const fstype = (JSON.parse(execFileSync('findmnt', ['-J', '-T', '/etc', '-o', 'FSTYPE'], { encoding: 'utf8' })) as { filesystems: { fstype: string }[] }).filesystems[0]!.fstype;
    expect(root).toMatchObject({ reason: expect.stringContaining(`/etc is ${fstype} on`) });
  });
});
