import { ConflictError, ValidationError } from '../errors.ts';
import { Image } from '../model/image.ts';
import { describeIssues } from '../validation.ts';

/**
 * The refusals every CatalogStore adapter gives in the same words, so that
 * SQLite, DynamoDB and the in-memory store cannot drift apart.
 */

/** `<client>_<10-digit epoch seconds>`; the client part may itself contain `_`. */
const BACKUP_ID = /^(.+)_(\d{10})$/;

/**
 * A claim or an image whose backup id names another client (or no client)
 * is refused before anything is written: the id decides where the image is
 * stored (`images/<client>/<backupId>/`) and, on DynamoDB, its partition.
 */
export function assertBackupIdOf(backupId: string, client: string): void {
  if (BACKUP_ID.exec(backupId)?.[1] !== client) {
    throw new ValidationError('invalid image', [`backupId: ${backupId} does not belong to client ${client} (expected ${client}_<epochSeconds>)`]);
  }
}

/**
 * Why `putImage` refuses an image whose job does not hold its claim: the
 * claim is gone (the janitor took the job for dead and removed its data: a
 * new attempt may succeed), or another job holds it (a plain conflict).
 */
export function uncataloguable(image: { backupId: string; jobId: number }, holder: number | undefined): ConflictError {
  if (holder === undefined) {
    return new ConflictError(`image ${image.backupId} cannot be catalogued: job ${image.jobId} holds no claim on that backup id (it was dropped)`, { kind: 'claim-lost' });
  }
  return new ConflictError(`image ${image.backupId} cannot be catalogued: job ${holder} holds its backup id, not job ${image.jobId}`);
}

/** `putImage` of a record other than the one catalogued under its backup id. */
export function differentImage(backupId: string): ConflictError {
  return new ConflictError(`a different image ${backupId} is in the catalog already`);
}

/**
 * The record an `updateImage` change made, checked: a valid image that keeps
 * what identifies it (ValidationError naming each field otherwise).
 */
export function checkedImageChange(before: Image, after: Image): Image {
  const parsed = Image.safeParse(after);
  if (!parsed.success) throw new ValidationError('invalid image change', describeIssues(parsed.error));
  const fields = ['backupId', 'client', 'policy', 'jobId', 'createdAt'] as const;
  const changed = fields.filter((f) => before[f] !== parsed.data[f]);
  if (changed.length > 0) throw new ValidationError('invalid image change', changed.map((f) => `${f}: ${String(before[f])} cannot become ${String(parsed.data[f])}`));
  return parsed.data;
}

/** `removeExpiredImage` of an image that is not being expired. */
export function notExpired(image: Image): ConflictError {
  return new ConflictError(`image ${image.backupId} is ${image.state}, not EXPIRED: only an image being expired has its record removed`);
}
