import { CairnError } from '../errors.ts';
import type { Image, ImageCopy } from '../model/image.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import { StatusCode } from '../status-codes.ts';

/*
 * The catalog side of duplication (bpduplicate): which copy number a new
 * copy gets, where a copy may go, and the record with the copy added. Pure:
 * the duplicate (edge-agent/duplicate/) writes and verifies the copy's
 * objects first, then commits the record through CatalogStore.updateImage
 * (a compare-and-set), so a copy is catalogued only once it is whole.
 */

/** The number the next copy of the image gets: one more than the highest (NetBackup's copy 2, 3, ...). */
export function nextCopyNumber(image: Image): number {
  return Math.max(...image.copies.map((c) => c.copyNumber)) + 1;
}

/** When a copy's retention ends: its own date, else the image's. */
export function copyExpiresAt(image: Image, copy: ImageCopy): string {
  return copy.expiresAt ?? image.expiresAt;
}

/**
 * Where a unit keeps objects: the directory of a disk unit, the bucket and
 * prefix of an S3 unit, and for a tape unit its index storage. Two units
 * with the same root would hold the same keys: a copy there would overwrite
 * (and its expiration delete) another copy's objects.
 */
export function objectRootOf(unit: StorageUnit): string {
  if (unit.kind === 'tape') return objectRootOf({ ...unit.index, name: unit.name } as StorageUnit);
  if (unit.kind === 'disk') return `disk:${unit.path.replace(/\/+$/, '') || '/'}`;
  return `s3:${unit.bucket}/${unit.prefix.replace(/^\/+|\/+$/g, '')}`;
}

/**
 * Why a copy of `image` cannot be written to `target`, or undefined when it
 * can: the image must be ACTIVE; no copy of the image may be on that unit or on a unit with the same object
 * root (`units`: the units of the image's copies, by name).
 */
export function duplicateRefusal(image: Image, target: StorageUnit, units: ReadonlyMap<string, StorageUnit | undefined>): CairnError | undefined {
  if (image.state !== 'ACTIVE') return new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} is being expired (${image.state}): it cannot be duplicated`);
  const same = image.copies.find((c) => c.storageUnit === target.name);
  if (same) return new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} already has copy ${same.copyNumber} on storage unit ${target.name}`);
  const root = objectRootOf(target);
  for (const copy of image.copies) {
    const unit = units.get(copy.storageUnit);
    if (unit && objectRootOf(unit) === root) {
      return new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${target.name} keeps its objects where ${copy.storageUnit} does (${root}), which holds copy ${copy.copyNumber} of image ${image.backupId}: a copy there would overwrite it`);
    }
  }
  return undefined;
}

/** The copy a duplicate reads: the primary unless `copyNumber` names another; undefined when the image has no such copy. */
export function sourceCopy(image: Image, copyNumber?: number): ImageCopy | undefined {
  return copyNumber === undefined ? image.copies[0] : image.copies.find((c) => c.copyNumber === copyNumber);
}

/**
 * The outcome of adding `copy` to the stored record (the compare-and-set's
 * change function): `added` with the new record; `present` when the image
 * already has a copy on that unit (a concurrent or earlier duplicate
 * committed it); `renumber` when another copy took the number meanwhile
 * (the manifest names the number, so the caller rewrites it and tries
 * again); `refused` when the image is no longer ACTIVE. The image's date
 * becomes the later of its own and the copy's, so the image lives as long
 * as its longest-kept copy.
 */
export type CopyAddition =
  | { kind: 'added'; image: Image }
  | { kind: 'present'; copy: ImageCopy }
  | { kind: 'renumber'; copyNumber: number }
  | { kind: 'refused'; reason: string };

export function addCopy(image: Image, copy: ImageCopy): CopyAddition {
  if (image.state !== 'ACTIVE') return { kind: 'refused', reason: `image ${image.backupId} is being expired (${image.state}): the copy is not catalogued` };
  const present = image.copies.find((c) => c.storageUnit === copy.storageUnit);
  if (present) return { kind: 'present', copy: present };
  if (image.copies.some((c) => c.copyNumber === copy.copyNumber)) return { kind: 'renumber', copyNumber: nextCopyNumber(image) };
  if (copy.expiresAt === undefined || Date.parse(copy.expiresAt) <= Date.parse(image.expiresAt)) return { kind: 'added', image: { ...image, copies: [...image.copies, copy] } };
  // The image now lives as long as the new copy; the copies that followed its date keep that date as their own.
  const pinned = image.copies.map((c) => (c.expiresAt === undefined ? { ...c, expiresAt: image.expiresAt } : c));
  return { kind: 'added', image: { ...image, expiresAt: copy.expiresAt, copies: [...pinned, copy] } };
}
