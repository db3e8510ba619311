import { CairnError, NotFoundError } from '#core/errors.ts';
import { addCopy, duplicateRefusal, nextCopyNumber, sourceCopy } from '#core/catalog/image-copies.ts';
import type { ImageCopy } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { StatusCode } from '#core/status-codes.ts';
import { encodeManifest, readManifest } from '../image/manifest.ts';
import { writeCopy, type CopyProgress } from './write-copy.ts';

export interface DuplicateDeps {
  catalog: CatalogStore;
  config: Pick<ConfigStore, 'getStorageUnit'>;
  openStorageUnit: StorageUnitOpener;
}

export interface DuplicateRequest {
  backupId: string;
  /** The storage unit the new copy goes to. */
  to: string;
  /** The copy read (default: the primary). */
  fromCopy?: number;
  /** The new copy's own retention end (ISO time); absent: the image's date. */
  expiresAt?: string;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface DuplicateResult {
  backupId: string;
  copyNumber: number;
  storageUnit: string;
  fromCopy: number;
  objects: number;
  bytes: number;
  /** True when the image already had a copy on that unit (committed by an earlier or concurrent run): nothing was catalogued. */
  alreadyPresent?: boolean;
  expiresAt: string;
}

/**
 * `cairn duplicate` (bpduplicate): copies one copy of an image to another
 * storage unit as its next copy (2, 3, ...), verified (write-copy.ts), then
 * adds it to the catalog record in one compare-and-set. The copy is written
 * under its own folder on the target unit and catalogued only at the end: a
 * run killed midway leaves objects no catalogued copy owns, which nothing
 * lists or restores, and the next run writes them again (each put replaces a
 * whole object) before it commits. Two runs to the same unit write the same
 * bytes; the first commit wins and the other reports the copy present.
 *
 * Refused (20): an image being expired, a tape target or source, a unit
 * that already holds a copy (or shares the object root of one that does).
 */
export async function duplicateImage(deps: DuplicateDeps, request: DuplicateRequest): Promise<DuplicateResult> {
  const image = await deps.catalog.getImage(request.backupId);
  if (!image) throw new NotFoundError('image', request.backupId);
  const target = await deps.config.getStorageUnit(request.to);
  if (!target) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${request.to} does not exist`);
  const from = sourceCopy(image, request.fromCopy);
  if (!from) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} has no copy ${request.fromCopy} (its copies: ${image.copies.map((c) => c.copyNumber).join(', ')})`);
  const units = new Map<string, StorageUnit | undefined>();
  for (const copy of image.copies) units.set(copy.storageUnit, await deps.config.getStorageUnit(copy.storageUnit));
  const refusal = duplicateRefusal(image, target, units);
  if (refusal) throw refusal;
  const fromUnit = units.get(from.storageUnit);
  if (!fromUnit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `copy ${from.copyNumber} of image ${image.backupId} is on storage unit ${from.storageUnit}, which does not exist`);
  if (fromUnit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `copy ${from.copyNumber} of image ${image.backupId} is on tape unit ${fromUnit.name}: duplication from tape is not built yet (it needs a drive reserved by a job); give --from-copy with a disk or S3 copy`);

  const [fromStore, toStore] = await Promise.all([deps.openStorageUnit(fromUnit), deps.openStorageUnit(target)]);
  let copyNumber = nextCopyNumber(image);
  const written = await writeCopy({
    image,
    from: { copy: from, store: fromStore },
    to: { storageUnit: target.name, store: toStore },
    copyNumber,
    ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });

  // Catalog last: a compare-and-set on the record. A copy number taken meanwhile (another duplicate to another unit) is rewritten in the manifest and tried again.
  for (let attempt = 0; ; attempt++) {
    const copy: ImageCopy = { ...written.copy, copyNumber };
    let outcome: ReturnType<typeof addCopy> | undefined;
    const stored = await deps.catalog.updateImage(image.backupId, (current) => {
      outcome = addCopy(current, copy);
      return outcome.kind === 'added' ? outcome.image : undefined;
    });
    if (!stored || !outcome) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${image.backupId} left the catalog while it was being duplicated: copy ${copyNumber} on ${target.name} is not catalogued`);
    const base = { backupId: image.backupId, storageUnit: target.name, fromCopy: from.copyNumber, objects: written.objects, bytes: written.bytes };
    switch (outcome.kind) {
      case 'added':
        return { ...base, copyNumber, expiresAt: copy.expiresAt ?? stored.expiresAt };
      case 'present':
        return { ...base, copyNumber: outcome.copy.copyNumber, alreadyPresent: true, expiresAt: outcome.copy.expiresAt ?? stored.expiresAt };
      case 'refused':
        throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, outcome.reason);
      case 'renumber': {
        if (attempt >= 5) throw new CairnError(StatusCode.CONFLICT, `image ${image.backupId}: copy numbers kept changing while copy ${copyNumber} was catalogued; run the duplicate again`);
        copyNumber = outcome.copyNumber;
        const manifest = await readManifest(toStore, copy.manifestKey);
        await toStore.put(copy.manifestKey, encodeManifest({ ...manifest, copyNumber }));
      }
    }
  }
}
