import { z } from 'zod';
import { IsoTime } from './names.ts';

/**
 * Frozen images (NetBackup's bpfis, NetWorker's snapshot-based save): what a
 * policy asks for and what the agent made. A FrozenImage crosses the job's
 * state machine as JSON (the Snapshot step's output, the Stream and
 * DeleteSnapshot steps' input), so it is a model, not an adapter's object.
 */

/** The methods that freeze a file system. `none` reads the live file system with change detection (no frozen image). */
export const SnapshotMethod = z.enum(['btrfs', 'lvm', 'zfs']);
export type SnapshotMethod = z.output<typeof SnapshotMethod>;

/** What a policy chooses: a method, `auto` (picked from the file system of each selection), or `none`. */
export const SnapshotChoice = z.enum(['auto', 'btrfs', 'lvm', 'zfs', 'none']);
export type SnapshotChoice = z.output<typeof SnapshotChoice>;

/**
 * One frozen image of one volume (a btrfs subvolume, an LVM logical volume,
 * a ZFS dataset) made for one job. A job whose selections live on several
 * volumes has one image per volume.
 */
export const FrozenImage = z
  .object({
    method: SnapshotMethod,
    /** Unique on the client and carries the job id (`cairnSnapshotName`), so a leftover is traced to its job. */
    name: z.string().regex(/^cairn-job-\d+-[0-9a-z]+$/),
    jobId: z.number().int().min(1),
    /** The root of the live volume this image freezes (subvolume root, mount point of the LV or dataset), absolute. */
    sourceRoot: z.string().startsWith('/'),
    /** Where `sourceRoot`'s content reads in the frozen image (read-only), absolute. */
    readRoot: z.string().startsWith('/'),
    /** What the provider needs to delete it (device, LV path, mount point, dataset@snapshot...), provider-defined. */
    handle: z.record(z.string(), z.string()),
    createdAt: IsoTime,
  })
  .strict();
export type FrozenImage = z.output<typeof FrozenImage>;

/** A selection the job reads live although the policy asked for a snapshot (not required), and why: shown in the job's details. */
export const SnapshotFallback = z.object({ selection: z.string(), reason: z.string() }).strict();
export type SnapshotFallback = z.output<typeof SnapshotFallback>;

/** What the Snapshot step hands the rest of the job: the images taken and the selections read live instead. */
export const JobSnapshots = z
  .object({
    images: z.array(FrozenImage),
    fellBack: z.array(SnapshotFallback),
  })
  .strict();
export type JobSnapshots = z.output<typeof JobSnapshots>;

/**
 * The name of job `jobId`'s image of `sourceRoot`: `cairn-job-<jobId>-<tag>`
 * where tag is a short stable digest of the root (one job may freeze several
 * volumes). Pure; the digest is FNV-1a (not security, only distinctness).
 */
export function cairnSnapshotName(jobId: number, sourceRoot: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(sourceRoot)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `cairn-job-${jobId}-${hash.toString(36)}`;
}

/** The job id a Cairn snapshot name carries, or undefined for a name that is not Cairn's. */
export function jobIdOfSnapshotName(name: string): number | undefined {
  const match = /^cairn-job-(\d+)-[0-9a-z]+$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Where the agent reads `path` (an original, absolute path): inside the
 * frozen image of the deepest volume root that contains it, or live when no
 * image covers it. The image records the original path either way.
 */
export function readPathOf(path: string, images: readonly FrozenImage[]): string {
  let best: FrozenImage | undefined;
  for (const image of images) {
    const root = image.sourceRoot;
    const inside = path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
    if (inside && (best === undefined || root.length > best.sourceRoot.length)) best = image;
  }
  if (best === undefined) return path;
  const rest = path.slice(best.sourceRoot.length).replace(/^\/+/, '');
  return rest === '' ? best.readRoot : `${best.readRoot.replace(/\/+$/, '')}/${rest}`;
}
