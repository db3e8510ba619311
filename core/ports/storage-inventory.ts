import type { StorageUnit } from '../model/storage-unit.ts';

/** One complete object of a storage unit as listed: its size and when it was last written. */
export interface StoredObject {
  key: string;
  bytes: number;
  /** ISO time of the last write (a file's mtime, S3's LastModified). */
  modifiedAt: string;
}

/**
 * Lists what a disk or S3 unit holds under a key prefix, with sizes and
 * times, for the catalog check (core/catalog/catalog-check.ts): its grace
 * period needs an object's age, which ObjectStore does not give. Only
 * complete objects: a partial file or an unfinished multipart upload is its
 * writer's (and the janitor's). A tape unit is listed through its index unit.
 */
export type StorageInventory = (unit: Exclude<StorageUnit, { kind: 'tape' }>, prefix: string) => Promise<StoredObject[]>;
