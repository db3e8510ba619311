import type { MountEntry } from './mountinfo.ts';

/** A local file system `ALL` expands to: one stream of a multiple-data-streams policy. */
export interface LocalFileSystem {
  mountPoint: string;
  fsType: string;
  source: string;
  device: string;
}

/** A mounted file system `ALL` leaves out, and why (the probe reports these too, so nothing is dropped unseen). */
export interface SkippedMount {
  mountPoint: string;
  fsType: string;
  reason: string;
}

/**
 * Kernel and virtual file systems: no data of the host's own on them.
 * tmpfs, ramfs and devtmpfs are here too: memory-backed, emptied at every boot
 * (/run, /dev/shm, /tmp on many systems); NetBackup's ALL_LOCAL_DRIVES and
 * NetWorker's `All` save set leave them out too. An administrator who wants
 * one names its path as a selection.
 */
const PSEUDO = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore', 'efivarfs',
  'bpf', 'configfs', 'fusectl', 'hugetlbfs', 'mqueue', 'binfmt_misc', 'autofs', 'rpc_pipefs', 'nfsd', 'nsfs', 'selinuxfs', 'usbfs',
  'sockfs', 'pipefs', 'anon_inodefs', 'cpuset', 'rootfs', 'fuse.lxcfs', 'fuse.gvfsd-fuse', 'fuse.gvfs-fuse-daemon', 'fuse.portal', 'fuse.snapfuse',
]);

/** Network file systems: backed up on the server that holds them, never through every client that mounts them. */
const NETWORK = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'afs', 'ceph', 'fuse.ceph', 'glusterfs', 'fuse.glusterfs', 'lustre', 'gpfs', 'beegfs', 'ocfs2', 'gfs2',
  '9p', 'virtiofs', 'fuse.sshfs', 'sshfs', 'fuse.s3fs', 's3fs', 'fuse.rclone', 'fuse.davfs', 'davfs', 'fuse.juicefs', 'fuse.mfs', 'fuse.cephfs',
]);

/** Read-only media and images: a CD, a DVD, a snap package. Their content comes from elsewhere and cannot change. */
const READ_ONLY_MEDIA = new Set(['iso9660', 'udf', 'squashfs', 'cramfs', 'erofs']);

/** Union views: their data lives in layer directories on another file system. */
const OVERLAY = new Set(['overlay', 'aufs', 'fuse.fuse-overlayfs', 'unionfs', 'fuse.unionfs', 'fuse.mergerfs']);

/** Disk file systems known to hold local data, whatever their source looks like (a ZFS source is `pool/dataset`, not a device). */
const LOCAL = new Set([
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'zfs', 'bcachefs', 'jfs', 'reiserfs', 'f2fs', 'nilfs2', 'vfat', 'msdos', 'exfat', 'ntfs', 'ntfs3',
  'fuseblk', 'hfs', 'hfsplus', 'ufs', 'minix',
]);

/**
 * Which of the mounts in a mount table are the host's local file systems,
 * each once (the save sets of NetWorker's savefs probe for `All`, NetBackup's
 * ALL_LOCAL_DRIVES). The rules, in order:
 *
 * 1. A mount point mounted over again shows only the last mount there (the
 *    table lists mounts in the order they were made): earlier ones are hidden.
 * 2. By type: pseudo, network and read-only-media types are dropped (sets
 *    above). Overlay and other union mounts are dropped, since their layers are
 *    directories of a local file system that is listed itself; except an
 *    overlay mounted at `/`, a container's root, whose layers are not visible
 *    in its own mount table. A known disk type is kept; any other type is kept
 *    only when its source is a device (`/dev/...`), so an unknown FUSE or
 *    virtual file system is left out and named rather than read.
 * 3. Bind mounts and duplicates: mounts of the same file system tree (same
 *    device; for btrfs, also the same subvolume, `subvolid=`, because every
 *    subvolume is a tree of its own) whose root lies inside another one's root
 *    show a part of what that one shows. Only the mount with the shortest root
 *    is kept (the first made when two are equal): a directory bind-mounted
 *    elsewhere is backed up once, under the mount that shows it whole.
 *
 * Kept file systems are in mount-point order, so `/` comes before `/boot`.
 */
export function localFileSystems(mounts: readonly MountEntry[]): { kept: LocalFileSystem[]; skipped: SkippedMount[] } {
  const skipped: SkippedMount[] = [];
  const skip = (m: MountEntry, reason: string): void => void skipped.push({ mountPoint: m.mountPoint, fsType: m.fsType, reason });

  const lastAt = new Map<string, MountEntry>();
  for (const m of mounts) lastAt.set(m.mountPoint, m);
  const candidates: MountEntry[] = [];
  for (const m of mounts) {
    if (lastAt.get(m.mountPoint) !== m) skip(m, 'hidden: mounted over by a later mount at the same mount point');
    else {
      const verdict = typeVerdict(m);
      if (verdict === 'local') candidates.push(m);
      else skip(m, verdict);
    }
  }

  const byTree = new Map<string, MountEntry[]>();
  for (const m of candidates) byTree.set(treeOf(m), [...(byTree.get(treeOf(m)) ?? []), m]);
  const kept: LocalFileSystem[] = [];
  for (const tree of byTree.values()) {
    // Shortest root first; among equal roots the table order (first made) stays, since sort is stable.
    const ordered = [...tree].sort((a, b) => a.root.length - b.root.length);
    const shown: MountEntry[] = [];
    for (const m of ordered) {
      const whole = shown.find((s) => isInside(m.root, s.root));
      if (whole) skip(m, `bind mount or duplicate of ${whole.mountPoint} (root ${m.root} of the same file system)`);
      else shown.push(m);
    }
    kept.push(...shown.map((m) => ({ mountPoint: m.mountPoint, fsType: m.fsType, source: m.source, device: m.device })));
  }
  kept.sort((a, b) => (a.mountPoint < b.mountPoint ? -1 : a.mountPoint > b.mountPoint ? 1 : 0));
  return { kept, skipped };
}

function typeVerdict(m: MountEntry): 'local' | string {
  if (PSEUDO.has(m.fsType) || m.fsType.startsWith('cgroup')) return `pseudo file system (${m.fsType})`;
  if (NETWORK.has(m.fsType)) return `network file system (${m.fsType})`;
  if (READ_ONLY_MEDIA.has(m.fsType)) return `read-only media (${m.fsType})`;
  if (OVERLAY.has(m.fsType)) return m.mountPoint === '/' ? 'local' : `overlay (${m.fsType}): its layers are on a listed file system`;
  if (LOCAL.has(m.fsType)) return 'local';
  if (m.source.startsWith('/dev/')) return 'local';
  return `not a known local file system and not on a device (${m.fsType}, source ${m.source})`;
}

/** The file system tree a mount shows part of: its device, and for btrfs its subvolume. */
function treeOf(m: MountEntry): string {
  const subvolume = m.fsType === 'btrfs' ? m.superOptions.find((o) => o.startsWith('subvolid=')) : undefined;
  return subvolume ? `${m.device}#${subvolume}` : m.device;
}

function isInside(root: string, outer: string): boolean {
  return outer === '/' || root === outer || root.startsWith(`${outer}/`);
}
