import type { Image } from '../model/image.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { isWritableState, type Media } from '../model/tape-media.ts';
import { written } from '../media/media-changes.ts';

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
