import type { Fragment, Image } from '../model/image.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { isWritableState, type Media } from '../model/tape-media.ts';
import { written } from '../media/media-changes.ts';
import { withoutImage } from '../media/volume-recycle.ts';
import { NotFoundError } from '../errors.ts';

/**
 * Records in the media manager what an image wrote to each tape volume,
 * before its catalog record is committed (the tape sink's contract: the
 * append point moves before any catalog points past it). Per volume: the
 * fragments' bytes, the tape files up to the image's last one on it (so the
 * append point, `tapeFiles`, becomes that file + 1; the label a Mount wrote
 * on a new volume is counted with them), the image's backup id, expiration
 * and retention, the time written; UNASSIGNED turns ACTIVE (media-changes.ts).
 *
 * Idempotent: a volume already listing the image is left as it is, checked
 * inside the conditional update, so a retried Catalog step never counts an
 * image twice. Only the primary copy's fragments are on the job's volumes.
 *
 * `fullVolume`: the volume the agent found past its early-warning mark when
 * the backup ended (BackupTaskResult.fullVolume). It turns FULL in the same
 * conditional update that counts the image's writes on it (a FROZEN or
 * SUSPENDED volume keeps its hold and returns to FULL: media-changes.ts), so
 * no later job mounts it to write one member and span. FULL is set even on
 * a retried step that finds the image already listed. A full volume that
 * holds none of the image's fragments (it was past the mark when mounted,
 * and nothing was written on it) turns FULL alone.
 */
export async function recordTapeWrites(emm: MediaDatabase, image: Image, retentionDays: number, at: Date, fullVolume?: string): Promise<void> {
  const byVolume = new Map<string, { bytes: number; lastFile: number }>();
  for (const copy of image.copies) {
    for (const fragment of copy.fragments) {
      if (fragment.location.kind !== 'tape') continue;
      const seen = byVolume.get(fragment.location.mediaId) ?? { bytes: 0, lastFile: 0 };
      byVolume.set(fragment.location.mediaId, { bytes: seen.bytes + fragment.bytes, lastFile: Math.max(seen.lastFile, fragment.location.fileNumber) });
    }
  }
  for (const [mediaId, { bytes, lastFile }] of byVolume) {
    const full = mediaId === fullVolume;
    await emm.updateMedia(mediaId, (media) =>
      media.images.includes(image.backupId)
        ? full
          ? markedFull(media)
          : media
        : written(media, { bytes, tapeFiles: Math.max(0, lastFile + 1 - media.tapeFiles), backupId: image.backupId, expiresAt: image.expiresAt, retentionDays, at, ...(full ? { full: true } : {}) }),
    );
  }
  if (fullVolume !== undefined && !byVolume.has(fullVolume)) await emm.updateMedia(fullVolume, markedFull);
}

/** FULL, as at end of media (next-volume.ts does the same): a held volume keeps its hold and returns to FULL; other states stay. */
function markedFull(media: Media): Media {
  if (isWritableState(media.state)) return { ...media, state: 'FULL' };
  if (media.state === 'FROZEN' || media.state === 'SUSPENDED') return media.heldFrom === 'FULL' ? media : { ...media, heldFrom: 'FULL' };
  return media;
}

/**
 * What a duplicate wrote to tape (a copy of an image, not its primary),
 * recorded on each volume before the copy is catalogued, as
 * `recordTapeWrites` does for a backup: bytes, tape files up to the copy's
 * last one there (the append point moves past them), the image, the
 * copy's expiration and retention. `fullVolume` turns FULL with it.
 *
 * Idempotent by the append point, not by the image list: a volume whose
 * append point is already past the copy's last file there counted it (a
 * retried step). The image may be listed on the volume already (another
 * copy of it, or an earlier run that died before its catalog commit, whose
 * files this copy wrote over), and its files must still be counted, or a
 * later backup would write over the copy.
 */
export async function recordCopyWrites(emm: MediaDatabase, backupId: string, fragments: readonly Fragment[], write: { expiresAt: string; retentionDays: number; at: Date; fullVolume?: string }): Promise<void> {
  const byVolume = new Map<string, { bytes: number; lastFile: number }>();
  for (const fragment of fragments) {
    if (fragment.location.kind !== 'tape') continue;
    const seen = byVolume.get(fragment.location.mediaId) ?? { bytes: 0, lastFile: 0 };
    byVolume.set(fragment.location.mediaId, { bytes: seen.bytes + fragment.bytes, lastFile: Math.max(seen.lastFile, fragment.location.fileNumber) });
  }
  for (const [mediaId, { bytes, lastFile }] of byVolume) {
    const full = mediaId === write.fullVolume;
    await emm.updateMedia(mediaId, (media) =>
      media.tapeFiles > lastFile
        ? full
          ? markedFull(media)
          : media
        : written(media, { bytes, tapeFiles: lastFile + 1 - media.tapeFiles, backupId, expiresAt: write.expiresAt, retentionDays: write.retentionDays, at: write.at, ...(full ? { full: true } : {}) }),
    );
  }
  if (write.fullVolume !== undefined && !byVolume.has(write.fullVolume)) await emm.updateMedia(write.fullVolume, markedFull);
}

/**
 * Undoes what `recordCopyWrites` listed when the copy then was not
 * catalogued (the catalog's compare-and-set found a copy on the unit
 * committed by a concurrent run, or the image being expired, or gone): the
 * image leaves the list of each volume the copy wrote on, unless a copy the
 * catalog still has (`current`, the record as the refusal read it) has a
 * fragment there. The append point stays where the copy moved it, so its
 * tape files are never written over while this runs and nothing points at
 * them afterwards; a volume left with no image returns to scratch at the
 * next expiration run, as an expired image's volume does. Without this the
 * volume would list an image whose copy is not there, and never return to
 * scratch. Resolves the volumes the image was taken off; a volume the media
 * manager no longer knows holds nothing to take off.
 */
export async function unrecordCopyWrites(emm: MediaDatabase, backupId: string, volumes: readonly string[], current: Image | undefined): Promise<string[]> {
  const kept = new Set(current?.copies.flatMap((c) => c.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : []))) ?? []);
  const taken: string[] = [];
  for (const mediaId of volumes) {
    if (kept.has(mediaId)) continue;
    try {
      await emm.updateMedia(mediaId, (m) => withoutImage(m, backupId));
      taken.push(mediaId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
  return taken;
}
