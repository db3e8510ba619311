import { SCRATCH_POOL, type Media } from '../model/tape-media.ts';

/**
 * What expiring an image does to the tape volumes it was written on (the
 * media manager's side of nbdelete): the image leaves the volume's list, and
 * a volume left with no image returns to the scratch pool, to be labelled
 * into a pool and written from its first tape file again. Pure changes of
 * the record, safe to re-apply to a newer one (MediaDatabase.updateMedia).
 */

/** The volume without `backupId` among its images; unchanged when it was not there. */
export function withoutImage(media: Media, backupId: string): Media {
  if (!media.images.includes(backupId)) return media;
  return { ...media, images: media.images.filter((id) => id !== backupId) };
}

/**
 * Why a written volume whose images have all expired cannot return to
 * scratch now, or undefined when it can. FROZEN and SUSPENDED volumes keep
 * their hold (an operator or the error policy put it there: NetBackup leaves
 * a frozen volume frozen when its images expire); a volume a job holds is
 * being written or read (the job's image is not on its list until it is
 * catalogued); one that still lists images is not empty.
 */
export function whyNotRecycled(media: Media, heldByJob: number | undefined): string | undefined {
  if (media.images.length > 0) return `it still holds ${media.images.length} image(s)`;
  if (media.state === 'FROZEN' || media.state === 'SUSPENDED') return `it is ${media.state}: it stays in pool ${media.pool} until an operator releases it`;
  if (heldByJob !== undefined) return `job ${heldByJob} holds it`;
  return undefined;
}

/** A written volume with no image left: nothing on it is wanted any more. */
export function isExpiredVolume(media: Media): boolean {
  return media.images.length === 0 && (media.tapeFiles > 0 || media.bytesWritten > 0 || media.pool !== SCRATCH_POOL) && (media.state === 'ACTIVE' || media.state === 'FULL');
}

/**
 * The volume back in scratch, as never written: UNASSIGNED, no bytes, no
 * tape files, no retention or expiration. Its label stays on the tape (the
 * media id does not change), so the next Mount finds its own label and
 * writes from tape file 1 over what was there. Mount and error history,
 * where it is (robot, slot, drive) and when it was added are kept. Applied
 * only to a volume `isExpiredVolume` and `whyNotRecycled` let go; anything
 * else is returned unchanged, so a re-applied change never empties a volume
 * a job wrote to meanwhile.
 */
export function recycled(media: Media): Media {
  if (!isExpiredVolume(media)) return media;
  const { retentionDays: _r, expiresAt: _e, lastWrittenAt: _w, heldFrom: _h, ...rest } = media;
  return { ...rest, pool: SCRATCH_POOL, state: 'UNASSIGNED', bytesWritten: 0, tapeFiles: 0 };
}
