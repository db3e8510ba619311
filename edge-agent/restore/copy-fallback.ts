import { CairnError, messageOf } from '#core/errors.ts';
import { isBrokenCopy, type Image, type ImageCopy } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { checkImageObjects } from '../catalog/image-objects-check.ts';
import { restoreImage, type RestoreOptions, type RestoreResult } from './restore.ts';

/*
 * Restore from the primary copy, falling back to the next copy (NetBackup
 * restores from the primary copy; an administrator who finds it damaged
 * restores with `-copy N`: Cairn does that itself and says so). Two checks
 * choose the copy:
 * - before anything is written, each copy's objects are looked up (manifest
 *   against the catalog, every fragment present with its catalogued size,
 *   the index present: catalog/image-objects-check.ts); a copy that
 *   fails is passed over;
 * - a restore that ends with a corrupt image (2001: a fragment or file
 *   whose sha256 does not match) is run again from the next copy, into the
 *   same target with `overwrite`: what the first attempt put in place was
 *   each checked against its index sha256 first, so it is the same content.
 * Copies on tape are not tried here (a tape restore is a job of its own).
 */

/** Opens the store of the unit a copy is on; rejects when the unit is gone or unreachable. */
export type OpenCopy = (copy: ImageCopy) => Promise<ObjectStore>;

/**
 * The image as read from `copy`: the same record with that copy first, so
 * code that reads "the primary copy" (point-in-time views, block chains)
 * reads it. Only ever used to read: never written back to the catalog.
 */
export function readFromCopy(image: Image, copy: ImageCopy): Image {
  return { ...image, copies: [copy, ...image.copies.filter((c) => c !== copy)] };
}

function onTape(copy: ImageCopy): boolean {
  return copy.fragments.some((f) => f.location.kind === 'tape');
}

/**
 * The first copy (primary first) whose objects are all there, with its store.
 * `notes` gets one line per copy passed over. None: 2001 naming what is
 * wrong with each.
 */
export async function readableCopy(image: Image, openCopy: OpenCopy, notes: string[], after?: ImageCopy): Promise<{ copy: ImageCopy; store: ObjectStore }> {
  const candidates = after === undefined ? image.copies : image.copies.slice(image.copies.indexOf(after) + 1);
  const why: string[] = [];
  for (const [i, copy] of candidates.entries()) {
    const next = candidates[i + 1];
    const then = next ? `; trying copy ${next.copyNumber} (storage unit ${next.storageUnit})` : '';
    if (onTape(copy)) {
      why.push(`copy ${copy.copyNumber} is on tape: not read by this restore`);
      continue;
    }
    // A copy `cairn catalog check --repair` found missing or short is not tried again.
    if (isBrokenCopy(image, copy.copyNumber)) {
      const line = `copy ${copy.copyNumber} of image ${image.backupId} on storage unit ${copy.storageUnit} is marked broken by the catalog check`;
      why.push(line);
      if (image.copies.length > 1) notes.push(`${line}${then}`);
      continue;
    }
    let problem: string | undefined;
    let store: ObjectStore | undefined;
    try {
      store = await openCopy(copy);
      problem = (await checkImageObjects(store, image, copy))[0];
    } catch (error) {
      problem = messageOf(error);
    }
    if (problem === undefined && store) return { copy, store };
    const line = `copy ${copy.copyNumber} of image ${image.backupId} on storage unit ${copy.storageUnit} cannot be read: ${problem}`;
    why.push(line);
    if (image.copies.length > 1) notes.push(`${line}${then}`);
  }
  throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${why.length === 1 ? why[0] : `no copy can be read (${why.join('; ')})`}`, { details: why });
}

export interface FallbackResult extends RestoreResult {
  /** The copy the files came from. */
  copyNumber: number;
  /** What made the restore pass over a copy, one line each (empty when the primary served). */
  fallbacks: string[];
}

/** restoreImage from the first readable copy, again from the next one when that copy turns out corrupt (see above). */
export async function restoreFromCopies(options: Omit<RestoreOptions, 'store' | 'copy'>, openCopy: OpenCopy, onFallback?: (line: string) => void): Promise<FallbackResult> {
  const fallbacks: string[] = [];
  const say = (line: string): void => {
    fallbacks.push(line);
    onFallback?.(line);
  };
  const notes: string[] = [];
  let chosen = await readableCopy(options.image, openCopy, notes);
  for (const n of notes) say(n);
  let attempt = 0;
  for (;;) {
    try {
      const result = await restoreImage({ ...options, store: chosen.store, copy: chosen.copy, ...(attempt > 0 ? { existing: 'overwrite' as const } : {}) });
      return { ...result, copyNumber: chosen.copy.copyNumber, fallbacks };
    } catch (error) {
      const corrupt = error instanceof CairnError && error.statusCode === StatusCode.CORRUPT_IMAGE;
      if (!corrupt || chosen.copy === options.image.copies.at(-1)) throw error;
      const later: string[] = [];
      let next: { copy: ImageCopy; store: ObjectStore };
      try {
        next = await readableCopy(options.image, openCopy, later, chosen.copy);
      } catch {
        throw error; // no other copy can be read: the first corruption is what the restore ends with
      }
      say(`copy ${chosen.copy.copyNumber} of image ${options.image.backupId} on storage unit ${chosen.copy.storageUnit} is corrupt: ${messageOf(error)}; restoring from copy ${next.copy.copyNumber} (storage unit ${next.copy.storageUnit}) instead`);
      for (const n of later) say(n);
      chosen = next;
      attempt += 1;
    }
  }
}
