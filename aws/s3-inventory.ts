import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { assertKeyPrefix } from '#core/ports/object-store.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { StoredObject } from '#core/ports/storage-inventory.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { createAwsClients } from './clients.ts';

let environmentClient: S3Client | undefined;

/**
 * The objects of an S3 unit under `prefix` (inside the unit's own prefix),
 * with Size and LastModified from ListObjectsV2 (the catalog check's
 * StorageInventory). Unfinished multipart uploads are not objects: they are
 * not listed. `client` defaults to one from the environment, as
 * S3ObjectStore's does.
 */
export async function listS3Objects(unit: Extract<StorageUnit, { kind: 's3' }>, prefix: string, client?: S3Client): Promise<StoredObject[]> {
  assertKeyPrefix(prefix);
  const s3 = client ?? (environmentClient ??= createAwsClients().s3);
  const trimmed = unit.prefix.replace(/\/+$/, '');
  const base = trimmed === '' ? '' : `${trimmed}/`;
  const found: StoredObject[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: unit.bucket, Prefix: base + prefix })) {
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined) continue;
      found.push({ key: o.Key.slice(base.length), bytes: o.Size ?? 0, modifiedAt: (o.LastModified ?? new Date(0)).toISOString() });
    }
  }
  return found.sort((a, b) => byCodePoint(a.key, b.key));
}
