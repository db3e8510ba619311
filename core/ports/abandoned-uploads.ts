import type { StorageUnit } from '../model/storage-unit.ts';

/** What one sweep of a storage unit did: the uploads it aborted, and what it could not check or abort. */
export interface AbandonedUploadsReport {
  aborted: { key: string; uploadId: string }[];
  problems: string[];
}

/**
 * Incomplete writes a dead writer left on a storage unit (S3 multipart
 * uploads whose agent died), which the unit keeps, and bills, until someone
 * aborts them. The scheduler tick sweeps every unit with it.
 *
 * Contract: only writes idle for longer than the adapter's grace period are
 * aborted (a live 5 TiB upload takes hours and must never be touched);
 * idempotent and safe to run concurrently with writers and with another
 * sweep; a unit the adapter does not handle (a disk unit, a bucket it has no
 * access to) is skipped with an empty report, never an error.
 */
export interface AbandonedUploads {
  sweep(unit: StorageUnit, now: Date): Promise<AbandonedUploadsReport>;
}
