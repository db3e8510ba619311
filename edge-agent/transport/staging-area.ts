import { imageKeys } from '#core/ids.ts';
import type { StagingArea } from '#core/jobs/janitor.ts';
import type { Image } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { messageOf } from '#core/errors.ts';
import { readManifest } from '../image/manifest.ts';
import { manifestMismatches } from '../restore/image-trust.ts';

/**
 * The staging area of object-store units (disk and S3): an image is staged
 * under its own folder, `images/<client>/<backupId>/`, which only its claim
 * owns until the image is catalogued; discarding a claim removes that
 * folder with any partial file or unfinished multipart upload in it. The
 * caller gives the opener (the standalone janitor: local/open-storage-unit.ts).
 */
export function objectStoreStaging(openStore: StorageUnitOpener): StagingArea {
  return {
    discard: async (claim, unit) => (await openStore(unit)).deletePrefix(`${imageKeys(claim.backupId).prefix}/`),
    check: async (image, unit) => checkImageObjects(await openStore(unit), image),
  };
}

/**
 * Cheap structural check of a catalogued image: the manifest is there and
 * says what the catalog says, and every fragment and the index are there
 * with the catalogued sizes. Content checksums are restore's and verify's job.
 */
export async function checkImageObjects(store: ObjectStore, image: Image): Promise<string[]> {
  const problems: string[] = [];
  try {
    const manifest = await readManifest(store, image.manifestKey);
    problems.push(...manifestMismatches(image, manifest).map((m) => `manifest ${image.manifestKey} disagrees with the catalog: ${m}`));
  } catch (error) {
    problems.push(`manifest ${image.manifestKey}: ${messageOf(error)}`);
  }
  for (const fragment of image.fragments) {
    const found = await store.head(fragment.key);
    if (!found) problems.push(`fragment ${fragment.number} (${fragment.key}) is missing`);
    else if (found.bytes !== fragment.bytes) problems.push(`fragment ${fragment.number} (${fragment.key}) has ${found.bytes} bytes, the catalog says ${fragment.bytes}`);
  }
  if (!(await store.head(image.indexKey))) problems.push(`index ${image.indexKey} is missing`);
  return problems;
}
