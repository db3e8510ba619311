import { imageKeys } from '#core/ids.ts';
import type { StagingArea } from '#core/jobs/janitor.ts';
import { primaryCopy } from '#core/model/image.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { checkImageObjects, type TapeFragmentCheck } from '../catalog/image-objects-check.ts';

/**
 * The staging area of object-store units (disk and S3): an image is staged
 * under its own folder, `images/<client>/<backupId>/`, which only its claim
 * owns until the image is catalogued; discarding a claim removes that
 * folder with any partial file or unfinished multipart upload in it. The
 * caller gives the opener (the standalone janitor: local/open-storage-unit.ts).
 * A tape unit's store is its index unit: the manifest and index are checked
 * there, its fragments with `checkTapeFragment` (the media manager's record
 * of the volume; no tape is mounted).
 */
export function objectStoreStaging(openStore: StorageUnitOpener, options: { checkTapeFragment?: TapeFragmentCheck } = {}): StagingArea {
  return {
    discard: async (claim, unit) => (await openStore(unit)).deletePrefix(`${imageKeys(claim.backupId).prefix}/`),
    check: async (image, unit) => checkImageObjects(await openStore(unit), image, primaryCopy(image), options.checkTapeFragment),
  };
}
