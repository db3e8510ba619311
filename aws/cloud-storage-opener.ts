import { DeleteObjectsCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { s3StorageUnitStore } from '#aws/s3-object-store.ts';
import { CairnError } from '#core/errors.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { assertFolderPrefix, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * The storage the scheduler Lambda's cleanup reaches itself: an S3 unit,
 * through the function's own client. A disk unit is a directory on an
 * agent's host, which no Lambda can open: refused with 219 naming the unit
 * (`cloudReachable` keeps the cleanup from trying).
 *
 * Deleting an expired image's folder deletes its current objects only
 * (DeleteObjects without version ids: a delete marker each). Only the
 * stack's deletion role may destroy object versions (cdk/constructs/deletion-role.ts;
 * the bucket policy denies it to every other principal), so the bytes stay
 * as noncurrent versions until the bucket's lifecycle rule expires them
 * (`noncurrentVersionDays`, 7 by default), as for a failed image the agent
 * removed. Nothing lists, restores or bills them as an image after that day.
 */
export function cloudStorageOpener(s3: S3Client): StorageUnitOpener {
  return async (unit) => {
    if (unit.kind !== 's3') {
      throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name} is a ${unit.kind} unit on an agent's host, which the scheduler cannot reach: run \`cairn --aws images expire\` where it is mounted`);
    }
    const store = s3StorageUnitStore(unit, s3);
    const base = unit.prefix === '' ? '' : `${unit.prefix}/`;
    return {
      put: (key, body) => store.put(key, body),
      get: (key, range) => store.get(key, range),
      head: (key) => store.head(key),
      list: (prefix) => store.list(prefix),
      delete: (key) => store.delete(key),
      listIncomplete: (prefix) => store.listIncomplete(prefix),
      deletePrefix: (prefix) => deleteCurrentObjects(s3, unit.bucket, base, prefix),
    } satisfies ObjectStore;
  };
}

/** Whether the scheduler can expire an image on a unit: S3 units, and tape units whose index is on S3 (their volumes are the media manager's). */
export function cloudReachable(unit: StorageUnit): boolean {
  return unit.kind === 's3' || (unit.kind === 'tape' && unit.index.kind === 's3');
}

/**
 * Every current object under a folder, deleted with delete markers. An
 * unfinished multipart upload there (none, for a catalogued image) is left
 * to the tick's abandoned-upload sweep. Idempotent: a second run finds
 * nothing current.
 */
async function deleteCurrentObjects(s3: S3Client, bucket: string, base: string, prefix: string): Promise<{ objects: number; incomplete: number; bytes: number }> {
  assertFolderPrefix(prefix);
  const Prefix = base + prefix;
  const objects: { Key: string }[] = [];
  let bytes = 0;
  try {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix })) {
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        objects.push({ Key: o.Key });
        bytes += o.Size ?? 0;
      }
    }
  } catch (error) {
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `S3 could not list s3://${bucket}/${Prefix}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  // DeleteObjects takes at most 1,000 keys a call.
  for (let i = 0; i < objects.length; i += 1000) {
    let failed: string[];
    try {
      const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects.slice(i, i + 1000), Quiet: true } }));
      failed = (out.Errors ?? []).map((e) => `${e.Key ?? '?'}: ${e.Code ?? 'Error'}: ${e.Message ?? ''}`);
    } catch (error) {
      throw new CairnError(StatusCode.MEDIA_WRITE_ERROR, `S3 could not delete under s3://${bucket}/${Prefix}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (failed.length > 0) throw new CairnError(StatusCode.MEDIA_WRITE_ERROR, `S3 could not delete ${failed.length} object(s) under s3://${bucket}/${Prefix}`, { details: failed });
  }
  return { objects: objects.length, incomplete: 0, bytes };
}
