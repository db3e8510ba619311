import { CairnError, NotFoundError } from '#core/errors.ts';
import type { Image, ImageCopy } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { blockMapKey } from '../image/block-map.ts';
import { readIndex } from '../image/index-reader.ts';

/**
 * The objects of an image copy besides its fragments and its manifest, found
 * from the catalog record and the index alone: the index, and `blocks.bin`
 * when an index entry points into it (core/catalog/consistency-findings.ts
 * owns the same set). Never a listing of the copy's folder: the cloud agent's
 * S3 grant has no s3:ListBucket, and a listing would copy objects no record
 * vouches for. Both duplicates (to disk or S3, and to tape) copy this set.
 * The index is read against the catalog's sha256 on the way; a missing
 * index is 2001 naming it.
 */
export async function copySideObjects(store: ObjectStore, image: Image, copy: ImageCopy): Promise<string[]> {
  const keys = [copy.indexKey];
  try {
    for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) {
      if (entry.blockMap === undefined) continue;
      keys.push(blockMapKey(image.backupId));
      break;
    }
  } catch (error) {
    if (error instanceof NotFoundError) throw new CairnError(StatusCode.CORRUPT_IMAGE, `the index ${copy.indexKey} of copy ${copy.copyNumber} is missing from storage unit ${copy.storageUnit}`, { cause: error });
    throw error;
  }
  return keys;
}
