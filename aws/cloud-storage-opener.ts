import type { S3Client } from '@aws-sdk/client-s3';
import { s3StorageUnitStore } from '#aws/s3-object-store.ts';
import { CairnError } from '#core/errors.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * The storage a cloud function can reach itself: an S3 unit, through the
 * function's own client. A disk unit is a directory on an agent's host,
 * which no Lambda can open: refused with 219 naming the unit, so an
 * expiration of one of its images waits (EXPIRED, never restored) until
 * `cairn --aws images expire` runs on a machine that mounts it.
 */
export function cloudStorageOpener(s3: S3Client): StorageUnitOpener {
  return async (unit) => {
    if (unit.kind === 's3') return s3StorageUnitStore(unit, s3);
    throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name} is a ${unit.kind} unit on an agent's host, which the scheduler cannot reach: run \`cairn --aws images expire\` where it is mounted`);
  };
}

/** Whether the scheduler can delete from a unit: S3 units, and tape units whose index is on S3 (their volumes are the media manager's). */
export function cloudReachable(unit: StorageUnit): boolean {
  return unit.kind === 's3' || (unit.kind === 'tape' && unit.index.kind === 's3');
}
