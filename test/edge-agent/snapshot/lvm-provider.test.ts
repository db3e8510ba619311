import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { type FrozenImage, cairnSnapshotName } from '#core/model/snapshot.ts';
import { StatusCode } from '#core/status-codes.ts';
import { LvmSnapshotProvider, lvmSizeArguments } from '#agent/snapshot/lvm-provider.ts';
import { openSnapshotProviders } from '#agent/snapshot/open-snapshot-providers.ts';
import { type SnapshotVolume, SNAPSHOT_VOLUME_FILES, describeSnapshotProviderContract } from '#test/contracts/snapshot-provider-contract.ts';
import { type ScriptedCall, findmntReport, fixture, scriptedRunner } from './scripted-runner.ts';

const BASE = `/tmp/i11-snap-providers/lvm-unit-${process.pid}`;
const AT = '2026-12-03T14:00:00.000Z';
const FIELDS = 'vg_name,lv_name,lv_path,lv_attr,origin,lv_tags';
const NAME = cairnSnapshotName(7, '/srv');

/** The captured lvs report of i11snapvg/data, as an active volume (or with another attr and name). */
function lvsReport(attr = '-wi-ao----', name = 'data', origin = ''): string {
  return fixture('lvs-logical-volume.json').replace('"lv_attr":"-wi-XX----"', `"lv_attr":"${attr}"`).replace('"origin":""', `"origin":"${origin}"`).replaceAll('data', name);
}

const findSrv = (fstype = 'ext4'): ScriptedCall => ({ command: ['findmnt', '-J', '-T', '/srv', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: findmntReport('/srv', '/dev/mapper/i11snapvg-data', fstype) } });
const lvsOfSrv = (attr?: string): ScriptedCall => ({ command: ['lvs', '--reportformat', 'json', '-o', FIELDS, '/dev/mapper/i11snapvg-data'], result: { stdout: lvsReport(attr) } });
const lvsOfSnapshot = (present: boolean): ScriptedCall => ({
  command: ['lvs', '--reportformat', 'json', '-o', FIELDS, `i11snapvg/${NAME}`],
  result: present ? { stdout: lvsReport('swi-a-s---', NAME, 'data') } : { exitCode: 5, stdout: fixture('lvs-missing.json'), stderr: fixture('lvs-missing.stderr').replace('cairn-job-7-abc', NAME) },
});
const mounted = (yes: boolean): ScriptedCall => ({ command: ['findmnt', '-n', '-o', 'TARGET', '--mountpoint', join(BASE, NAME)], result: yes ? { stdout: `${join(BASE, NAME)}\n` } : { exitCode: 1 } });

function image(): FrozenImage {
  return { method: 'lvm', name: NAME, jobId: 7, sourceRoot: '/srv', readRoot: join(BASE, NAME), handle: { lv: `i11snapvg/${NAME}`, device: `/dev/i11snapvg/${NAME}`, mountPoint: join(BASE, NAME) }, createdAt: AT };
}

afterEach(async () => {
  await rm(BASE, { recursive: true, force: true });
});

describe('LvmSnapshotProvider on its command lines and the tools\' real outputs', () => {
  it('probes a path on an LV through findmnt and lvs of the mount\'s device, to the LV\'s mount point', async () => {
    const { run, calls, remaining } = scriptedRunner([
      { command: ['findmnt', '-J', '-T', '/srv/www/index.html', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: findmntReport('/srv', '/dev/mapper/i11snapvg-data', 'ext4') } },
      lvsOfSrv(),
    ]);
    expect(await new LvmSnapshotProvider({ run }).probe('/srv/www/index.html')).toEqual({ ok: true, sourceRoot: '/srv' });
    expect(calls).toHaveLength(2);
    expect(remaining()).toEqual([]);
  });

  it('probes a path on a plain device to a reason naming its type and device (lvs exits 5: "Volume group not found")', async () => {
    const { run } = scriptedRunner([
      { command: ['findmnt', '-J', '-T', '/data', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: findmntReport('/data', '/dev/loop0', 'ext4') } },
      { command: ['lvs', '--reportformat', 'json', '-o', FIELDS, '/dev/loop0'], result: { exitCode: 5, stdout: fixture('lvs-not-a-volume.json'), stderr: fixture('lvs-not-a-volume.stderr') } },
    ]);
    expect(await new LvmSnapshotProvider({ run }).probe('/data')).toEqual({ ok: false, reason: '/data is ext4 on /dev/loop0, not on an LVM logical volume' });
  });

  it('probes a btrfs subvolume mount, /proc and a missing path to reasons without asking lvs about a non-device', async () => {
    const btrfs = fixture('findmnt-btrfs-subvolume.json');
    const { run, calls } = scriptedRunner([
      { command: ['findmnt', '-J', '-T', '/proc/self', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: fixture('findmnt-proc.json') } },
      { command: ['findmnt', '-J', '-T', '/nowhere', '-o', 'TARGET,SOURCE,FSTYPE'], result: { exitCode: 1 } },
      { command: ['findmnt', '-J', '-T', '/home', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: btrfs } },
      { command: ['lvs', '--reportformat', 'json', '-o', FIELDS, '/dev/loop2'], result: { exitCode: 5, stdout: fixture('lvs-not-a-volume.json'), stderr: fixture('lvs-not-a-volume.stderr').replaceAll('loop0', 'loop2') } },
    ]);
    const provider = new LvmSnapshotProvider({ run });
    expect(await provider.probe('/proc/self')).toEqual({ ok: false, reason: '/proc/self is proc on proc, not on an LVM logical volume' });
    expect(await provider.probe('/nowhere')).toEqual({ ok: false, reason: '/nowhere does not exist' });
    // findmnt's "[/@home]" is not part of the device lvs is asked about.
    expect(await provider.probe('/home')).toEqual({ ok: false, reason: '/home is btrfs on /dev/loop2, not on an LVM logical volume' });
    expect(calls).toHaveLength(4);
  });

  it('refuses an LV that is itself a snapshot, a thin volume, and a file system it cannot mount read-only safely', async () => {
    const cases: [ScriptedCall[], string][] = [
      [[findSrv(), lvsOfSrv('swi-a-s---')], '/srv is ext4 on /dev/mapper/i11snapvg-data, itself an LVM snapshot'],
      [[findSrv(), lvsOfSrv('Vwi-aotz--')], '/srv is ext4 on /dev/mapper/i11snapvg-data, a thin logical volume (thin snapshots are not supported yet)'],
      [[findSrv('btrfs'), lvsOfSrv()], '/srv is btrfs on /dev/mapper/i11snapvg-data: an LVM snapshot is mounted read-only only for ext2, ext3, ext4, xfs'],
    ];
    for (const [script, reason] of cases) {
      const { run } = scriptedRunner(script);
      expect(await new LvmSnapshotProvider({ run }).probe('/srv')).toEqual({ ok: false, reason });
    }
  });

  it('creates: lvcreate --snapshot --extents 10%ORIGIN tagged cairn, then mounts it ro,noload at <mount base>/<name> (owner-only)', async () => {
    const { run, calls, remaining } = scriptedRunner([
      findSrv(),
      lvsOfSrv(),
      lvsOfSnapshot(false),
      { command: ['lvcreate', '--snapshot', '--extents', '10%ORIGIN', '--addtag', 'cairn', '--name', NAME, 'i11snapvg/data'], result: { stdout: `  Logical volume "${NAME}" created.\n` } },
      { command: ['mount', '-t', 'ext4', '-o', 'ro,noload,nodev,nosuid,noexec', `/dev/i11snapvg/${NAME}`, join(BASE, NAME)], result: {} },
    ]);
    const made = await new LvmSnapshotProvider({ run, mountBase: BASE }).create({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT });
    expect(made).toEqual(image());
    expect(remaining()).toEqual([]);
    expect(calls.map((c) => c[0])).toEqual(['findmnt', 'lvs', 'lvs', 'lvcreate', 'mount']);
    expect((await stat(join(BASE, NAME))).mode & 0o777).toBe(0o700);
  });

  it('mounts xfs ro,nouuid,norecovery, and takes an absolute size as --size', async () => {
    const { run, remaining } = scriptedRunner([
      findSrv('xfs'),
      lvsOfSrv(),
      lvsOfSnapshot(false),
      { command: ['lvcreate', '--snapshot', '--size', '2G', '--addtag', 'cairn', '--name', NAME, 'i11snapvg/data'], result: {} },
      { command: ['mount', '-t', 'xfs', '-o', 'ro,nouuid,norecovery,nodev,nosuid,noexec', `/dev/i11snapvg/${NAME}`, join(BASE, NAME)], result: {} },
    ]);
    await new LvmSnapshotProvider({ run, mountBase: BASE, size: '2G' }).create({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT });
    expect(remaining()).toEqual([]);
  });

  it('fails a create with status 156 naming lvcreate and what it said (device-mapper missing, as here), leaving no mount point and no volume', async () => {
    const { run, remaining } = scriptedRunner([
      findSrv(),
      lvsOfSrv(),
      lvsOfSnapshot(false),
      { command: ['lvcreate', '--snapshot', '--extents', '10%ORIGIN', '--addtag', 'cairn', '--name', NAME, 'i11snapvg/data'], result: { exitCode: 3, stderr: fixture('lvcreate-no-device-mapper.stderr') } },
      // The clean-up: not mounted, no volume made.
      mounted(false),
      lvsOfSnapshot(false),
    ]);
    const failure = await new LvmSnapshotProvider({ run, mountBase: BASE }).create({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CairnError);
    expect(failure).toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR, message: expect.stringContaining('`lvcreate --snapshot --extents 10%ORIGIN --addtag cairn') });
    expect((failure as Error).message).toContain('snapshot: Required device-mapper target(s) not detected in your kernel.');
    expect(remaining()).toEqual([]);
    expect(existsSync(join(BASE, NAME))).toBe(false);
  });

  it('removes the volume it made when the mount fails, and says why the mount failed', async () => {
    const { run, remaining } = scriptedRunner([
      findSrv(),
      lvsOfSrv(),
      lvsOfSnapshot(false),
      { command: ['lvcreate', '--snapshot', '--extents', '10%ORIGIN', '--addtag', 'cairn', '--name', NAME, 'i11snapvg/data'], result: {} },
      { command: ['mount', '-t', 'ext4', '-o', 'ro,noload,nodev,nosuid,noexec', `/dev/i11snapvg/${NAME}`, join(BASE, NAME)], result: { exitCode: 32, stderr: `mount: ${join(BASE, NAME)}: wrong fs type, bad option, bad superblock on /dev/mapper/i11snapvg-${NAME}.` } },
      mounted(false),
      lvsOfSnapshot(true),
      { command: ['lvremove', '-f', `i11snapvg/${NAME}`], result: {} },
    ]);
    await expect(new LvmSnapshotProvider({ run, mountBase: BASE }).create({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('wrong fs type') });
    expect(remaining()).toEqual([]);
    expect(existsSync(join(BASE, NAME))).toBe(false);
  });

  it('refuses to create over a leftover of the same name, and to snapshot a path that is not the LV\'s mount point', async () => {
    const leftover = scriptedRunner([findSrv(), lvsOfSrv(), lvsOfSnapshot(true)]);
    await expect(new LvmSnapshotProvider({ run: leftover.run, mountBase: BASE }).create({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('already exists') });
    const inner = scriptedRunner([
      { command: ['findmnt', '-J', '-T', '/srv/www', '-o', 'TARGET,SOURCE,FSTYPE'], result: { stdout: findmntReport('/srv', '/dev/mapper/i11snapvg-data', 'ext4') } },
      lvsOfSrv(),
    ]);
    const name = cairnSnapshotName(7, '/srv/www');
    await expect(new LvmSnapshotProvider({ run: inner.run, mountBase: BASE }).create({ sourceRoot: '/srv/www', name, jobId: 7, createdAt: AT })).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('not the mount point') });
  });

  it('deletes: umount, the mount point, lvremove -f; a second delete finds nothing and runs no lvremove', async () => {
    await mkdir(join(BASE, NAME), { recursive: true });
    const { run, remaining } = scriptedRunner([
      mounted(true),
      { command: ['umount', join(BASE, NAME)], result: {} },
      lvsOfSnapshot(true),
      { command: ['lvremove', '-f', `i11snapvg/${NAME}`], result: { stdout: `  Logical volume "${NAME}" successfully removed.\n` } },
      mounted(false),
      lvsOfSnapshot(false),
      lvsOfSnapshot(false),
    ]);
    const provider = new LvmSnapshotProvider({ run, mountBase: BASE });
    await provider.delete(image());
    expect(existsSync(join(BASE, NAME))).toBe(false);
    await provider.delete(image());
    expect(await provider.exists(image())).toBe(false);
    expect(remaining()).toEqual([]);
  });

  it('tells the image a create of the same request makes (imageOf) from findmnt and lvs alone, creating nothing', async () => {
    const { run, calls } = scriptedRunner([findSrv(), lvsOfSrv()]);
    expect(await new LvmSnapshotProvider({ run, mountBase: BASE }).imageOf({ sourceRoot: '/srv', name: NAME, jobId: 7, createdAt: AT })).toEqual(image());
    expect(calls.map((c) => c[0])).toEqual(['findmnt', 'lvs']);
    expect(existsSync(join(BASE, NAME))).toBe(false);
  });

  it('reads a volume group that is gone (its disk removed) as the snapshot gone', async () => {
    const { run } = scriptedRunner([{ command: ['lvs', '--reportformat', 'json', '-o', FIELDS, `i11snapvg/${NAME}`], result: { exitCode: 5, stdout: fixture('lvs-not-a-volume.json'), stderr: fixture('lvs-not-a-volume.stderr').replaceAll('loop0', 'i11snapvg') } }]);
    expect(await new LvmSnapshotProvider({ run, mountBase: BASE }).exists(image())).toBe(false);
  });

  it('fails a delete whose lvremove fails while the volume is still there, with 156 naming it', async () => {
    const { run } = scriptedRunner([
      mounted(false),
      lvsOfSnapshot(true),
      { command: ['lvremove', '-f', `i11snapvg/${NAME}`], result: { exitCode: 5, stderr: `  Logical volume i11snapvg/${NAME} contains a filesystem in use.` } },
      lvsOfSnapshot(true),
    ]);
    await expect(new LvmSnapshotProvider({ run, mountBase: BASE }).delete(image())).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining('in use') });
  });

  it('refuses an image whose handle does not name its Cairn snapshot (a forged record never removes the origin), running nothing', async () => {
    const { run, calls } = scriptedRunner([]);
    const provider = new LvmSnapshotProvider({ run, mountBase: BASE });
    for (const handle of [{ lv: 'i11snapvg/data', mountPoint: join(BASE, NAME) }, { lv: `i11snapvg/${NAME}`, mountPoint: '/srv' }, { lv: `-f/${NAME}`, mountPoint: join(BASE, NAME) }]) {
      await expect(provider.delete({ ...image(), handle })).rejects.toMatchObject({ statusCode: 156 });
    }
    expect(calls).toEqual([]);
  });

  it('takes a percentage as --extents and a size as --size, and refuses anything else with status 20 when the providers are opened', () => {
    expect(lvmSizeArguments('10%ORIGIN')).toEqual(['--extents', '10%ORIGIN']);
    expect(lvmSizeArguments('20%FREE')).toEqual(['--extents', '20%FREE']);
    expect(lvmSizeArguments('512M')).toEqual(['--size', '512M']);
    expect(() => openSnapshotProviders({ lvmSnapshotSize: '10% ; rm -rf /' })).toThrow(expect.objectContaining({ statusCode: StatusCode.INVALID_COMMAND_USAGE }));
    expect(() => openSnapshotProviders({ lvmSnapshotSize: '--help' })).toThrow(/invalid LVM snapshot size/);
  });
});

/** Why LVM snapshots cannot be made here, or undefined. */
function lvmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'LVM needs root';
  const targets = spawnSync('dmsetup', ['targets'], { encoding: 'utf8' });
  if (targets.error) return 'dmsetup is not installed (lvm2)';
  if (targets.status !== 0) return `device-mapper does not work here (dmsetup targets: ${targets.stderr.split('\n').find((l) => /device-mapper/.test(l)) ?? `exit ${targets.status}`})`;
  if (!/^snapshot\b/m.test(targets.stdout)) return 'the device-mapper snapshot target is not available';
  for (const tool of ['mkfs.ext4', 'losetup']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}

function sh(file: string, args: string[]): string {
  const result = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' } });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** A volume group on a loop device with one ext4 LV, mounted under /tmp/i11-snap-providers (only where device-mapper works). */
async function openLvmVolume(): Promise<{ store: SnapshotVolume; cleanup: () => Promise<void> }> {
  const directory = `/tmp/i11-snap-providers/lvm-e2e-${process.pid}-${Date.now()}`;
  const vg = `cairnt${process.pid}`;
  await mkdir(join(directory, 'mnt'), { recursive: true });
  sh('truncate', ['-s', '256M', join(directory, 'pv.img')]);
  const device = sh('losetup', ['-f', '--show', join(directory, 'pv.img')]).trim();
  const root = join(directory, 'mnt');
  const mountBase = join(directory, 'snapshots');
  const cleanup = async (): Promise<void> => {
    spawnSync('sh', ['-c', `for m in ${mountBase}/*; do umount "$m"; done 2>/dev/null; umount ${root}`]);
    spawnSync('vgremove', ['-f', vg]);
    spawnSync('pvremove', [device]);
    spawnSync('losetup', ['-d', device]);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    sh('pvcreate', [device]);
    sh('vgcreate', [vg, device]);
    sh('lvcreate', ['-y', '-L', '128M', '-n', 'data', vg]);
    sh('mkfs.ext4', ['-q', `/dev/${vg}/data`]);
    sh('mount', [`/dev/${vg}/data`, root]);
    for (const [path, content] of Object.entries(SNAPSHOT_VOLUME_FILES)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    await rm(join(root, 'lost+found'), { recursive: true, force: true });
  } catch (error) {
    await cleanup();
    throw error;
  }
  const leftovers = async (): Promise<string[]> => {
    const volumes = sh('lvs', ['--noheadings', '-o', 'lv_name', vg]).split('\n').map((l) => l.trim()).filter(Boolean);
    const mounts = await readdir(mountBase).catch(() => []);
    return [...volumes.map((v) => `lv:${v}`), ...mounts.map((m) => `mount:${m}`)].sort();
  };
  return { store: { provider: new LvmSnapshotProvider({ mountBase, size: '32M' }), root, leftovers }, cleanup };
}

describeSnapshotProviderContract('LVM (loop device)', openLvmVolume, lvmSkipReason());
