import { CairnError, NotFoundError } from '#core/errors.ts';
import type { Image, ImageCopy } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { chunkTableSha256, type IndexChunkTable } from '../image/index-chunks.ts';
import { readIndex, readIndexChunk } from '../image/index-reader.ts';
import { readManifest, type ImageManifest } from '../image/manifest.ts';
import type { ProblemList } from '../reader/problems.ts';

/*
 * Restore's chain of trust: catalog → index sha256 → manifest → fragment
 * sha256 → file sha256. The catalog record is the root: what the storage
 * unit holds is believed only as far as it agrees with it, and where both
 * name a value (fragments, index key and sha256) the catalog's is used.
 * A restore reads one copy of the image; each copy has its own manifest,
 * index and fragments, checked against that copy's catalog entry.
 */

/**
 * The image's manifest, checked against its catalog record. A missing or
 * disagreeing manifest is a corrupt image (2001): the details name every
 * field that differs, with the catalog's value and the manifest's.
 */
export async function readTrustedManifest(store: ObjectStore, image: Image, copy: ImageCopy): Promise<ImageManifest> {
  let manifest: ImageManifest;
  try {
    manifest = await readManifest(store, copy.manifestKey);
  } catch (error) {
    if (error instanceof NotFoundError) throw corruptImage(image.backupId, `its manifest ${copy.manifestKey} is missing from storage unit ${copy.storageUnit}`, [], error);
    if (error instanceof CairnError && error.statusCode === StatusCode.CORRUPT_IMAGE) throw corruptImage(image.backupId, error.message, error.details, error);
    throw error;
  }
  const mismatches = manifestMismatches(image, copy, manifest);
  if (mismatches.length > 0) {
    throw corruptImage(image.backupId, `manifest ${copy.manifestKey} disagrees with the catalog: ${mismatches[0]}`, mismatches);
  }
  return manifest;
}

/** Every field in which a copy's manifest differs from the catalog record of the image and that copy, as `field: manifest has X, the catalog Y`. */
export function manifestMismatches(image: Image, copy: ImageCopy, manifest: ImageManifest): string[] {
  const out: string[] = [];
  const compare = (field: string, catalog: unknown, found: unknown): void => {
    // Locations are objects; everything else compared here is a scalar.
    if (JSON.stringify(catalog) !== JSON.stringify(found)) out.push(`${field}: the manifest has ${JSON.stringify(found)}, the catalog ${JSON.stringify(catalog)}`);
  };
  compare('backupId', image.backupId, manifest.backupId);
  compare('client', image.client, manifest.client);
  compare('policy', image.policy, manifest.policy);
  compare('schedule', image.schedule, manifest.schedule);
  compare('level', image.level, manifest.level);
  compare('jobId', image.jobId, manifest.jobId);
  compare('copyNumber', copy.copyNumber, manifest.copyNumber);
  compare('indexKey', copy.indexKey, manifest.indexKey);
  compare('indexSha256', copy.indexSha256, manifest.indexSha256);
  // A copy catalogued without a chunk table reads its index whole, whatever its manifest says.
  if (copy.indexChunksSha256 !== undefined) compare('indexChunksSha256', copy.indexChunksSha256, manifest.indexChunks ? chunkTableSha256(manifest.indexChunks) : undefined);
  compare('fileCount', image.fileCount, manifest.fileCount);
  if (copy.copyNumber === 1) compare('bytes', image.bytes, manifest.bytes);
  compare('fragments.length', copy.fragments.length, manifest.fragments.length);
  copy.fragments.forEach((fragment, i) => {
    const found = manifest.fragments[i];
    if (!found) return;
    for (const field of ['number', 'location', 'bytes', 'sha256', 'checksum', 'encoding'] as const) compare(`fragments[${i}].${field}`, fragment[field], found[field]);
  });
  return out;
}

/**
 * The image's index lines, read with the catalog's key and sha256. The
 * checksum is checked when the end is reached, so a consumer that reads to
 * the end has read the index the catalog vouches for. A missing or bad
 * index rejects with 2001 naming the image.
 */
export async function* trustedIndex(store: ObjectStore, image: Image, copy: ImageCopy): AsyncGenerator<IndexEntry, void, undefined> {
  try {
    yield* readIndex(store, copy.indexKey, copy.indexSha256);
  } catch (error) {
    if (error instanceof NotFoundError) throw corruptImage(image.backupId, `its index ${copy.indexKey} is missing from storage unit ${copy.storageUnit}`, [], error);
    if (error instanceof CairnError && error.statusCode === StatusCode.CORRUPT_IMAGE) throw corruptImage(image.backupId, error.message, error.details, error);
    throw error;
  }
}

/**
 * The index's chunk table when the catalog vouches for it: the copy's
 * `indexChunksSha256` is that of the manifest's table (which
 * `readTrustedManifest` refuses otherwise; checked here again, so a table
 * is never used on a caller's word). Undefined for copies catalogued
 * without one: their index is read whole.
 */
export function trustedChunkTable(copy: ImageCopy, manifest: ImageManifest): IndexChunkTable | undefined {
  const table = manifest.indexChunks;
  if (copy.indexChunksSha256 === undefined || table === undefined) return undefined;
  return chunkTableSha256(table) === copy.indexChunksSha256 ? table : undefined;
}

/**
 * The lines of chunk `i` (0-based) of the copy's index, read by range and
 * checked against the trusted chunk table. A missing index or a chunk that
 * does not verify rejects with 2001 naming the image.
 */
export async function trustedIndexChunk(store: ObjectStore, image: Image, copy: ImageCopy, chunks: IndexChunkTable, i: number): Promise<IndexEntry[]> {
  try {
    return await readIndexChunk(store, copy.indexKey, chunks[i]!, i + 1);
  } catch (error) {
    if (error instanceof NotFoundError) throw corruptImage(image.backupId, `its index ${copy.indexKey} is missing from storage unit ${copy.storageUnit}`, [], error);
    if (error instanceof CairnError && error.statusCode === StatusCode.CORRUPT_IMAGE) throw corruptImage(image.backupId, error.message, error.details, error);
    throw error;
  }
}

/** The error a restore ends with when the image is corrupt; `failures` are its details. */
export function corruptImageError(subject: string, failures: ProblemList): CairnError {
  const details = failures.report();
  return new CairnError(StatusCode.CORRUPT_IMAGE, `${subject} is corrupt: ${details[0] ?? 'unknown problem'}`, { details });
}

function corruptImage(backupId: string, problem: string, details: readonly string[], cause?: unknown): CairnError {
  return new CairnError(StatusCode.CORRUPT_IMAGE, `image ${backupId} is corrupt: ${problem}`, { details, cause });
}
