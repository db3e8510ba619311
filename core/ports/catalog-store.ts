import type { Image, ImageClaim } from '../model/image.ts';

export interface ImageQuery {
  client?: string;
  policy?: string;
  /** Images created at or after this instant. */
  from?: Date;
  /** Images created at or before this instant. */
  to?: Date;
}

/**
 * The image catalog (bpdbm). Holds one record per image; the per-file index
 * lives next to the image in its storage unit, so this store does not grow
 * with file count.
 *
 * It also holds the claims of images being written (DESIGN §8): a backup id
 * is claimed atomically before any byte is written, and an image becomes
 * visible only when `putImage` turns its claim into the image record. A
 * backup id belongs to at most one claim or one image, ever.
 */
export interface CatalogStore {
  /**
   * Takes `claim.backupId` for `claim.jobId`, atomically (unique constraint /
   * conditional put). True when the job holds the claim, also when it
   * already did (a retried step); false when another job's claim or a
   * catalogued image has that id. Never waits and never takes another id.
   */
  claimBackupId(claim: ImageClaim): Promise<boolean>;
  /** Every claim not yet committed or dropped: images being staged, or left by a stopped job. Oldest first. */
  listClaims(): Promise<ImageClaim[]>;
  /**
   * Removes the claim when `jobId` holds it; true when it did. Idempotent.
   * Call only once the claim's data is gone from its storage unit, or the
   * data is owned by nobody.
   */
  dropClaim(backupId: string, jobId: number): Promise<boolean>;
  /**
   * Commits an image: in one atomic step the claim of `image.jobId` on
   * `image.backupId` is replaced by the image record. Idempotent for an
   * identical record (a retried Catalog step). ConflictError when a
   * different image has that backup id, or when no claim of that job holds
   * it (it was dropped because the job was taken for dead, or another job
   * holds it): then nothing is written.
   */
  putImage(image: Image): Promise<void>;
  /**
   * Takes a catalogued image back: in one atomic step its record is replaced
   * by a claim of the job that wrote it, so the image is no longer listed or
   * restorable while its data stays owned until the janitor removes it. Used
   * when a job and its image disagree (the job ended without success after
   * all, or the image failed its check). True when an image was withdrawn;
   * false when there was none.
   */
  withdrawImage(backupId: string, at: Date): Promise<boolean>;
  getImage(backupId: string): Promise<Image | undefined>;
  /**
   * Changes a catalogued image (its expiration date, its state): `change`
   * gets the stored record and returns the new one, or undefined to leave it
   * as it is. A compare-and-set on the whole record: a change that lost a
   * race is applied again to the fresh record. The new record keeps the
   * image's identity (backup id, client, policy, job, creation time);
   * anything else is a ValidationError and nothing is written. Resolves the
   * record as stored afterwards, or undefined when there is no such image.
   */
  updateImage(backupId: string, change: (image: Image) => Image | undefined): Promise<Image | undefined>;
  /**
   * Removes the record of an image being expired (state EXPIRED: marked
   * first, its data deleted since). True when it removed it; false when
   * there was none (removed already: idempotent). An image in any other
   * state is refused (ConflictError 2005) and kept: a record is removed only
   * as the last step of its expiration (core/catalog/expire-images.ts).
   */
  removeExpiredImage(backupId: string): Promise<boolean>;
  /** Matching images, newest first. Claims are never listed. */
  listImages(query?: ImageQuery): Promise<Image[]>;
}
