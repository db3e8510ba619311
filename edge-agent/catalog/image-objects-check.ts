import { fragmentLabel, primaryCopy, type FragmentLocation, type Image, type ImageCopy } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { messageOf } from '#core/errors.ts';
import { readManifest } from '../image/manifest.ts';
import { manifestMismatches } from '../restore/image-trust.ts';

/** What is wrong with a fragment on tape (undefined: nothing), for an image on a tape unit. */
export type TapeFragmentCheck = (backupId: string, location: Extract<FragmentLocation, { kind: 'tape' }>) => Promise<string | undefined>;

/**
 * Cheap structural check of a catalogued image's copy (default: the
 * primary): the manifest is there and says what the catalog says, and every
 * fragment and the index are there with the catalogued sizes. Content
 * checksums are restore's and verify's job.
 *
 * Here, beside the catalog image writer, because the catalog check runs it
 * in the catalog-job Lambda too (lambdas/catalog-job.ts, the one lambdas/
 * file allowed to import this folder). It cannot live in core/: the
 * manifest it reads is the agent's format, whose index chunk table is
 * checked with node:crypto.
 */
export async function checkImageObjects(store: ObjectStore, image: Image, copy: ImageCopy = primaryCopy(image), checkTapeFragment?: TapeFragmentCheck): Promise<string[]> {
  const problems: string[] = [];
  try {
    const manifest = await readManifest(store, copy.manifestKey);
    problems.push(...manifestMismatches(image, copy, manifest).map((m) => `manifest ${copy.manifestKey} disagrees with the catalog: ${m}`));
  } catch (error) {
    problems.push(`manifest ${copy.manifestKey}: ${messageOf(error)}`);
  }
  for (const fragment of copy.fragments) {
    if (fragment.location.kind === 'tape' && checkTapeFragment) {
      const problem = await checkTapeFragment(image.backupId, fragment.location);
      if (problem) problems.push(`${fragmentLabel(fragment)}: ${problem}`);
      continue;
    }
    if (fragment.location.kind !== 'object') {
      problems.push(`${fragmentLabel(fragment)} is not an object, but copy ${copy.copyNumber} is on object storage unit ${copy.storageUnit}`);
      continue;
    }
    const found = await store.head(fragment.location.key);
    if (!found) problems.push(`${fragmentLabel(fragment)} is missing`);
    else if (found.bytes !== fragment.bytes) problems.push(`${fragmentLabel(fragment)} has ${found.bytes} bytes, the catalog says ${fragment.bytes}`);
  }
  if (!(await store.head(copy.indexKey))) problems.push(`index ${copy.indexKey} is missing`);
  return problems;
}
