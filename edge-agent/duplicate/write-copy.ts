import { createHash } from 'node:crypto';
import { CairnError, NotFoundError, messageOf } from '#core/errors.ts';
import { fragmentLabel, type Fragment, type Image, type ImageCopy } from '#core/model/image.ts';
import { imageKeys } from '#core/ids.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { encodeManifest } from '../image/manifest.ts';
import { fragmentChecksum } from '../image/fragment-digest.ts';
import { readTrustedManifest } from '../restore/image-trust.ts';
import { corruptImageOf, verifyImage } from '../verify/verify-image.ts';
import { copySideObjects } from './copy-side-objects.ts';

export interface CopyProgress {
  objects: number;
  bytes: number;
  /** The key being copied, or `verifying` once every object is written. */
  current: string;
}

export interface WriteCopyOptions {
  image: Image;
  /**
   * The copy read, and the store of its unit (for a tape copy, its index
   * storage). `readFragment` reads a tape fragment's stored bytes (a copy
   * on tape: tape-copy-reader.ts); its fragments then become objects named
   * as a backup names them (`fragment-NNNNN.tar`, `.tar.zst` when encoded).
   */
  from: { copy: ImageCopy; store: ObjectStore; readFragment?: (fragment: Fragment) => Promise<AsyncIterable<Uint8Array>> };
  /** The unit written (by name) and its store. */
  to: { storageUnit: string; store: ObjectStore };
  copyNumber: number;
  /** The new copy's own retention end; absent: it follows the image's. */
  expiresAt?: string;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface WrittenCopy {
  copy: ImageCopy;
  objects: number;
  bytes: number;
}

/**
 * Writes copy `copyNumber` of an image to another object store (bpduplicate's
 * data half): every object of the source copy the catalog and its index
 * name (`images/<client>/<backupId>/`: fragments, the block-map object when
 * the index points into it, index; found without listing), under the
 * same keys, then its manifest (the source's, naming the new copy number and
 * unit), last, as a backup writes one. Nothing is catalogued here: the
 * caller commits the copy once this resolves (data first, catalog last).
 *
 * Checked as it goes, against the catalog record (the root of trust):
 * the source manifest must agree with the catalog; each fragment is hashed
 * as it streams through and must have the catalog's bytes, and its
 * checksum where it is computed over the stored bytes (every fragment but
 * a compressed one, whose `tar-members-1` is over the decompressed archive);
 * the index must have the catalog's sha256. Then the written copy is read
 * back whole by verifyImage (every fragment's checksum and structure, every
 * file's sha256), so what is catalogued is what was read back. Any
 * disagreement rejects with 2001 naming the object; a missing source object
 * too. What was written stays under the copy's folder, uncatalogued: the
 * next run writes it again (puts replace whole objects), and a catalog
 * check finds it if no run comes.
 */
export async function writeCopy(options: WriteCopyOptions): Promise<WrittenCopy> {
  const { image, from, to } = options;
  const manifest = await readTrustedManifest(from.store, image, from.copy);
  const folder = from.copy.manifestKey.slice(0, from.copy.manifestKey.lastIndexOf('/') + 1);
  if (!folder.endsWith(`/${image.backupId}/`)) throw new CairnError(StatusCode.CORRUPT_IMAGE, `copy ${from.copy.copyNumber} of image ${image.backupId} has its manifest outside the image's folder (${from.copy.manifestKey}): it is not duplicated`);
  // Each fragment under its object key on the target: its own key, or for a tape fragment the key a backup gives it.
  const plainKey = imageKeys(image.backupId).fragment;
  const targetKeyOf = (f: Fragment): string => (f.location.kind === 'object' ? f.location.key : f.encoding ? `${plainKey(f.number)}.zst` : plainKey(f.number));
  const fragments = new Map(from.copy.fragments.map((f) => [targetKeyOf(f), f] as const));
  const onTape = from.copy.fragments.some((f) => f.location.kind === 'tape');
  if (onTape && from.readFragment === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `copy ${from.copy.copyNumber} of image ${image.backupId} is on tape, and this duplicate has no drive to read it`);
  if (fragments.size !== from.copy.fragments.length) throw new CairnError(StatusCode.CORRUPT_IMAGE, `copy ${from.copy.copyNumber} of image ${image.backupId} names one fragment key twice: it is not duplicated`);

  // The copy's objects from the catalog and the index alone, never a listing (copy-side-objects.ts says why).
  // A missing one fails its get (2001); nothing else in the folder is copied.
  const listed = new Set([...fragments.keys(), ...(await copySideObjects(from.store, image, from.copy))]);
  const progress: CopyProgress = { objects: 0, bytes: 0, current: '' };
  for (const key of [...listed].sort()) {
    if (options.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: options.signal.reason });
    progress.current = key;
    options.onProgress?.({ ...progress });
    const fragment = fragments.get(key);
    const what = fragment ? fragmentLabel(fragment) : key === from.copy.indexKey ? `index ${key}` : key;
    let body: AsyncIterable<Uint8Array>;
    try {
      body = fragment && fragment.location.kind === 'tape' ? await from.readFragment!(fragment) : await from.store.get(key);
    } catch (error) {
      if (error instanceof NotFoundError) throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${what} of copy ${from.copy.copyNumber} is missing from storage unit ${from.copy.storageUnit}`, { cause: error });
      throw error;
    }
    const stored = createHash('sha256');
    const checksum = fragment && fragment.encoding === undefined ? fragmentChecksum(fragment) : undefined;
    let bytes = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        // Within an object too: a cancel does not wait for a fragment of gigabytes to be copied whole.
        if (options.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: options.signal.reason });
        stored.update(chunk);
        checksum?.update(chunk);
        bytes += chunk.byteLength;
        progress.bytes += chunk.byteLength;
        yield chunk;
      }
    }
    await to.store.put(key, counted());
    const sha256 = stored.digest('hex');
    const wrong = (reason: string): CairnError => new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${what} of copy ${from.copy.copyNumber} ${reason}`);
    if (fragment) {
      if (bytes !== fragment.bytes) throw wrong(`has ${bytes} bytes, the catalog says ${fragment.bytes}`);
      const expected = checksum ? checksum.digest('hex') : undefined;
      if (expected !== undefined && expected !== fragment.sha256) throw wrong(`has checksum (${fragment.checksum ?? 'stored-bytes'}) ${expected}, the catalog says ${fragment.sha256}`);
    } else if (key === from.copy.indexKey && sha256 !== from.copy.indexSha256) {
      throw wrong(`has sha256 ${sha256}, the catalog says ${from.copy.indexSha256}`);
    }
    progress.objects += 1;
  }

  const copy: ImageCopy = {
    ...from.copy,
    fragments: from.copy.fragments.map((f) => (f.location.kind === 'object' ? f : { ...f, location: { kind: 'object' as const, key: targetKeyOf(f) } })),
    copyNumber: options.copyNumber,
    storageUnit: to.storageUnit,
    ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
  };
  if (options.expiresAt === undefined) delete copy.expiresAt;
  await to.store.put(copy.manifestKey, encodeManifest({ ...manifest, copyNumber: copy.copyNumber, storageUnit: copy.storageUnit, fragments: copy.fragments }));
  progress.objects += 1;

  // Read back: the copy as the catalog will describe it, checked as bpverify checks an image.
  progress.current = 'verifying';
  options.onProgress?.({ ...progress });
  let result;
  try {
    result = await verifyImage({ store: to.store, image, copy, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    throw new CairnError(error instanceof CairnError ? error.statusCode : StatusCode.MEDIA_READ_ERROR, `copy ${copy.copyNumber} on storage unit ${to.storageUnit} could not be read back: ${messageOf(error)}`, { cause: error });
  }
  if (result.problemCount > 0) {
    const corrupt = corruptImageOf(result);
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `copy ${copy.copyNumber} written to storage unit ${to.storageUnit} does not verify: ${corrupt.message}`, { details: corrupt.details });
  }
  return { copy, objects: progress.objects, bytes: progress.bytes };
}
