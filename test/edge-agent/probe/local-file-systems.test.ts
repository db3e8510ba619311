import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMountInfo } from '#agent/probe/mountinfo.ts';
import { localFileSystems } from '#agent/probe/local-file-systems.ts';
import { expandAllSelection } from '#agent/probe/probe.ts';

/**
 * The probe's rule on real mount tables:
 * - ci-machine.txt: /proc/self/mountinfo of the machine these tests were written on (2026-12-03), less one
 *   tmpfs of its sandbox (an ext4 image another test had loop-mounted at that moment among them);
 * - util-linux.txt, util-linux-btrfs.txt: util-linux's libmount test files
 *   (tests/ts/libmount/files/mountinfo and mountinfo_btrfs), unedited;
 * - ubuntu-desktop.txt: an Ubuntu 24.04 desktop's table (snaps, EFI, NFS, sshfs, a bind mount, Docker, an ISO, ZFS);
 * - docker-container.txt: the table inside a Docker container (overlay root, a named volume).
 */
const sample = (name: string) => parseMountInfo(readFileSync(join(import.meta.dirname, 'mountinfo', name), 'utf8'));
const mountPoints = (name: string) => localFileSystems(sample(name)).kept.map((fs) => fs.mountPoint);
const reasonFor = (name: string, mountPoint: string) => localFileSystems(sample(name)).skipped.filter((s) => s.mountPoint === mountPoint).map((s) => s.reason);

describe('the mountinfo parser', () => {
  it('reads every field of a line, with optional fields and octal escapes', () => {
    const [iso] = sample('ubuntu-desktop.txt').filter((m) => m.fsType === 'iso9660');
    expect(iso).toEqual({
      mountId: 150, parentId: 29, device: '11:0', root: '/', mountPoint: '/media/alice/Ubuntu 24.04 LTS',
      mountOptions: ['ro', 'nosuid', 'nodev', 'relatime'], fsType: 'iso9660', source: '/dev/sr0',
      superOptions: ['ro', 'nojoliet', 'check=relaxed', 'map=normal', 'blocksize=2048', 'iocharset=utf8'],
    });
    expect(sample('ci-machine.txt').length).toBeGreaterThan(10);
  });

  it('refuses a line that is not in the format of proc(5), naming it', () => {
    expect(() => parseMountInfo('20 1 8:4 / / rw,noatime ext3 /dev/sda4 rw\n')).toThrow(/line 1 is not in the format/);
    expect(() => parseMountInfo('x 1 8:4 / / rw - ext3 /dev/sda4 rw')).toThrow(/line 1/);
  });
});

describe('ALL: the local file systems of a mount table', () => {
  it('on the CI machine: the root ext4 and a loop-mounted ext4 (proc, sysfs, cgroups, devpts, devtmpfs and tmpfs left out)', () => {
    expect(mountPoints('ci-machine.txt')).toEqual(['/', '/tmp/i11-offhost/m']);
    expect(reasonFor('ci-machine.txt', '/dev/shm')).toEqual(['hidden: mounted over by a later mount at the same mount point', 'pseudo file system (tmpfs)']);
  });

  it("on util-linux's table: the ext3 root and /boot and the LVM home; not cifs, tmpfs, usbfs or the gvfs FUSE mount", () => {
    expect(mountPoints('util-linux.txt')).toEqual(['/', '/boot', '/home/kzak']);
    expect(reasonFor('util-linux.txt', '/mnt/sounds')).toEqual(['network file system (cifs)']);
    expect(reasonFor('util-linux.txt', '/mnt/test/foobar')).toEqual(['pseudo file system (tmpfs)']);
    expect(reasonFor('util-linux.txt', '/home/kzak/.gvfs')).toEqual(['pseudo file system (fuse.gvfs-fuse-daemon)']);
  });

  it('keeps every btrfs subvolume, the top level among them, since each is a tree of its own', () => {
    expect(mountPoints('util-linux-btrfs.txt')).toEqual(['/', '/mnt/a', '/var/cache', '/var/lib/containers', '/var/lib/libvirt', '/var/tmp']);
  });

  it('drops a bind mount of a directory inside a btrfs subvolume already listed', () => {
    const bind = '30 1 259:3 /root/srv /srv rw,relatime - btrfs /dev/sdc1 rw,compress=zstd:3,ssd,space_cache=v2,subvolid=256,subvol=/root';
    const text = `${readFileSync(join(import.meta.dirname, 'mountinfo', 'util-linux-btrfs.txt'), 'utf8')}${bind}\n`;
    const { kept, skipped } = localFileSystems(parseMountInfo(text));
    expect(kept.map((fs) => fs.mountPoint)).not.toContain('/srv');
    expect(skipped).toContainEqual({ mountPoint: '/srv', fsType: 'btrfs', reason: 'bind mount or duplicate of / (root /root/srv of the same file system)' });
  });

  it('on a desktop: root, EFI, home and ZFS; not snaps, NFS, sshfs, the ISO, Docker layers or the bind mount of a home directory', () => {
    expect(mountPoints('ubuntu-desktop.txt')).toEqual(['/', '/boot/efi', '/home', '/tank/data']);
    expect(reasonFor('ubuntu-desktop.txt', '/snap/core22/1122')).toEqual(['read-only media (squashfs)']);
    expect(reasonFor('ubuntu-desktop.txt', '/mnt/nas')).toEqual(['network file system (nfs4)']);
    expect(reasonFor('ubuntu-desktop.txt', '/home/alice/remote')).toEqual(['network file system (fuse.sshfs)']);
    expect(reasonFor('ubuntu-desktop.txt', '/media/alice/Ubuntu 24.04 LTS')).toEqual(['read-only media (iso9660)']);
    expect(reasonFor('ubuntu-desktop.txt', '/srv/projects')).toEqual(['bind mount or duplicate of /home (root /alice/projects of the same file system)']);
    expect(reasonFor('ubuntu-desktop.txt', '/var/lib/docker/overlay2/3f1c2a9e/merged')[0]).toMatch(/^overlay/);
  });

  it("in a container: the overlay root (its layers are not visible there) and the named volume", () => {
    expect(mountPoints('docker-container.txt')).toEqual(['/', '/var/lib/postgresql/data']);
  });

  it('leaves out an unknown file system that is not on a device, and keeps one that is', () => {
    const unknown = parseMountInfo('1 0 0:90 / /x rw - weirdfs none rw\n2 0 8:17 / /y rw - newdiskfs /dev/sdb1 rw\n');
    const { kept, skipped } = localFileSystems(unknown);
    expect(kept.map((fs) => fs.mountPoint)).toEqual(['/y']);
    expect(skipped[0]!.reason).toMatch(/not a known local file system and not on a device \(weirdfs, source none\)/);
  });
});

describe('expanding ALL in a list of selections', () => {
  const probe = async () => ({ fileSystems: localFileSystems(sample('util-linux.txt')).kept, skipped: [] });
  it('replaces ALL by the mount points, after the selections before it, each once', async () => {
    expect(await expandAllSelection(['/boot', 'ALL', '/etc'], probe)).toEqual(['/boot', '/', '/home/kzak', '/etc']);
  });
  it('reads nothing when there is no ALL', async () => {
    expect(await expandAllSelection(['/etc'], () => Promise.reject(new Error('must not probe')))).toEqual(['/etc']);
  });
});
