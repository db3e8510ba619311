import type { Image } from '../model/image.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
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
 */
export async function recordTapeWrites(emm: MediaDatabase, image: Image, retentionDays: number, at: Date): Promise<void> {
  const byVolume = new Map<string, { bytes: number; lastFile: number }>();
  for (const copy of image.copies) {
    for (const fragment of copy.fragments) {
      if (fragment.location.kind !== 'tape') continue;
      const seen = byVolume.get(fragment.location.mediaId) ?? { bytes: 0, lastFile: 0 };
      byVolume.set(fragment.location.mediaId, { bytes: seen.bytes + fragment.bytes, lastFile: Math.max(seen.lastFile, fragment.location.fileNumber) });
    }
  }
  for (const [mediaId, { bytes, lastFile }] of byVolume) {
    await emm.updateMedia(mediaId, (media) =>
      media.images.includes(image.backupId) ? media : written(media, { bytes, tapeFiles: Math.max(0, lastFile + 1 - media.tapeFiles), backupId: image.backupId, expiresAt: image.expiresAt, retentionDays, at }),
    );
  }
}
