import { createHash } from 'node:crypto';
import { CairnError, messageOf } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { SCRATCH_POOL } from '#core/model/tape-media.ts';
import { recordTapeWrites } from '#core/catalog/tape-writes.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { imageKeys } from '#core/ids.ts';
import { StatusCode } from '#core/status-codes.ts';
import { readManifest, type ImageManifest } from '#agent/image/manifest.ts';
import { recordFromManifest } from '#agent/image/manifest-record.ts';

/** The retention an imported image gets when the catalog has no schedule of its policy to take it from. */
export const DEFAULT_IMPORT_RETENTION_DAYS = 30;

export interface ImportOutcome {
  /** Images catalogued by this import. */
  imported: Image[];
  /** Images the catalog had already: left exactly as they were. */
  alreadyCatalogued: string[];
  /** Folders that are not a complete, consistent image, each with why; nothing of them is catalogued. */
  skipped: { folder: string; reason: string }[];
}

/**
 * bpimport: catalogs the images found on one storage unit from their
 * manifests alone, for a catalog that lost them (or a new one). Each folder
 * `images/<client>/<backupId>/` is an image only when its manifest is there
 * and valid, names that folder, its index has the sha256 the manifest says
 * and every fragment object is there with its size: a folder without a
 * manifest is a backup that never finished (staged) or an expiration that
 * stopped half way, and is skipped and reported, never catalogued.
 * Idempotent: an image the catalog has is left alone, so a second import
 * changes nothing.
 *
 * A tape unit: `store` is its index unit's (manifests and indexes stay
 * there). Its fragments are not read here (the volumes may be in a vault);
 * instead every volume the manifest names must be known to the media
 * manager (`emm`), else the image is skipped naming the volume (run the
 * robot's inventory, or `cairn media add`, first). Before the record is
 * committed, a volume the new media manager has in scratch moves into the
 * unit's pool, and the image's writes are counted on its volumes as the
 * Catalog step counts them (core/catalog/tape-writes.ts): the volume turns
 * ACTIVE with its append point past the image, so no backup writes over it. `cairn verify` reads the tape copy.
 */
export async function importImages(
  deps: { store: ObjectStore; catalog: CatalogStore; config: ConfigStore; now: Date; emm?: MediaDatabase },
  unit: StorageUnit,
  options: { retentionDays?: number } = {},
): Promise<ImportOutcome> {
  if (unit.kind === 'tape' && deps.emm === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `importing tape unit ${unit.name} needs the media manager`);
  const outcome: ImportOutcome = { imported: [], alreadyCatalogued: [], skipped: [] };
  const folders = new Map<string, string[]>();
  for (const key of await deps.store.list('images/')) {
    const parts = key.split('/');
    if (parts.length < 4) continue;
    const folder = `${parts.slice(0, 3).join('/')}/`;
    folders.set(folder, [...(folders.get(folder) ?? []), key]);
  }
  for (const [folder, keys] of [...folders].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const manifestKey = `${folder}manifest.json`;
    if (!keys.includes(manifestKey)) {
      outcome.skipped.push({ folder, reason: 'no manifest: a backup that never completed, or an image expired half way' });
      continue;
    }
    let manifest: ImageManifest;
    try {
      manifest = await readManifest(deps.store, manifestKey);
      await checkImageObjects(deps.store, folder, manifest);
    } catch (error) {
      outcome.skipped.push({ folder, reason: messageOf(error) });
      continue;
    }
    if ((await deps.catalog.getImage(manifest.backupId)) !== undefined) {
      outcome.alreadyCatalogued.push(manifest.backupId);
      continue;
    }
    const retentionDays = await retentionOf(deps.config, manifest, options.retentionDays);
    const image = recordFromManifest(manifest, { storageUnit: unit.name, manifestKey, retentionDays });
    // The catalog takes an image only from the job holding its id (SQLite and DynamoDB alike): the import holds it as that job.
    const claimed = await deps.catalog.claimBackupId({ backupId: image.backupId, jobId: image.jobId, client: image.client, storageUnit: unit.name, claimedAt: deps.now.toISOString() });
    if (!claimed) {
      outcome.skipped.push({ folder, reason: `backup id ${image.backupId} is claimed by a job in progress` });
      continue;
    }
    if (unit.kind === 'tape') {
      const unknown = await unknownVolumes(deps.emm!, manifest);
      if (unknown.length > 0) {
        outcome.skipped.push({ folder, reason: `its fragments are on volume${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}, which the media manager does not know: inventory the robot (cairn robots inventory) or add the volume (cairn media add), then import again` });
        continue;
      }
      // A volume the new media manager has in scratch moves into the unit's pool, as the broker moves one it writes.
      for (const mediaId of tapeVolumes(manifest)) if ((await deps.emm!.getMedia(mediaId))?.pool === SCRATCH_POOL) await deps.emm!.label(mediaId, unit.pool);
      // Counted on its volumes before the record points at them (the tape sink's order), so a scratch volume is protected first.
      await recordTapeWrites(deps.emm!, image, retentionDays, deps.now);
    }
    await deps.catalog.putImage(image);
    outcome.imported.push(image);
  }
  return outcome;
}

/** The volumes of the manifest's tape fragments that the media manager has no record of, in fragment order. */
async function unknownVolumes(emm: Pick<MediaDatabase, 'getMedia'>, manifest: ImageManifest): Promise<string[]> {
  const volumes = tapeVolumes(manifest);
  const known = await Promise.all(volumes.map(async (mediaId) => (await emm.getMedia(mediaId)) !== undefined));
  return volumes.filter((_, n) => !known[n]);
}

/** The volumes the manifest's tape fragments are on, each once, in fragment order. */
function tapeVolumes(manifest: ImageManifest): string[] {
  return [...new Set(manifest.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : [])))];
}

/** The policy's schedule retention when the catalog has it, else the caller's, else the default. */
async function retentionOf(config: ConfigStore, manifest: ImageManifest, fallback: number | undefined): Promise<number> {
  return (await config.getPolicy(manifest.policy))?.schedules.find((s) => s.name === manifest.schedule)?.retention.days ?? fallback ?? DEFAULT_IMPORT_RETENTION_DAYS;
}

/**
 * After a recovery: a claim in the recovered catalog is a backup that was
 * running when the catalog was copied. Its job's process is gone, so the
 * janitor would end the job and discard what the claim wrote, but the
 * backup may have completed after the copy, on the old machine: an image
 * that exists nowhere else. So every claim whose image is complete on its
 * (disk or S3) unit, as `importImages` checks it, and written by the
 * claim's job, is committed here first; the janitor then ends the job with
 * that image's status. Claims without a complete image are left to the
 * janitor. Problems (a unit that cannot be read) are reported, not thrown.
 */
export async function commitCompleteClaims(deps: { catalog: CatalogStore; config: ConfigStore; openStore: StorageUnitOpener }): Promise<{ committed: string[]; problems: string[] }> {
  const committed: string[] = [];
  const problems: string[] = [];
  for (const claim of await deps.catalog.listClaims()) {
    const unit = await deps.config.getStorageUnit(claim.storageUnit);
    if (unit === undefined || unit.kind === 'tape') continue;
    try {
      const store = await deps.openStore(unit);
      const folder = `${imageKeys(claim.backupId).prefix}/`;
      const manifestKey = `${folder}manifest.json`;
      if ((await store.head(manifestKey)) === undefined) continue;
      const manifest = await readManifest(store, manifestKey);
      await checkImageObjects(store, folder, manifest);
      if (manifest.jobId !== claim.jobId) continue;
      await deps.catalog.putImage(recordFromManifest(manifest, { storageUnit: unit.name, manifestKey, retentionDays: await retentionOf(deps.config, manifest, undefined) }));
      committed.push(claim.backupId);
    } catch (error) {
      problems.push(`claim ${claim.backupId} of job ${claim.jobId}: ${messageOf(error)}`);
    }
  }
  return { committed, problems };
}

/** The manifest names its folder; the index has its sha256; every object fragment is there with its size. Else CORRUPT_IMAGE naming what is wrong. */
async function checkImageObjects(store: ObjectStore, folder: string, manifest: ImageManifest): Promise<void> {
  const corrupt = (what: string): CairnError => new CairnError(StatusCode.CORRUPT_IMAGE, `${folder}: ${what}`);
  if (folder !== `images/${manifest.client}/${manifest.backupId}/`) throw corrupt(`the manifest is of image ${manifest.backupId} of client ${manifest.client}`);
  const hash = createHash('sha256');
  try {
    for await (const chunk of await store.get(manifest.indexKey)) hash.update(chunk);
  } catch (error) {
    throw corrupt(`its index ${manifest.indexKey} cannot be read: ${messageOf(error)}`);
  }
  if (hash.digest('hex') !== manifest.indexSha256) throw corrupt(`its index ${manifest.indexKey} does not have the sha256 its manifest says`);
  for (const fragment of manifest.fragments) {
    if (fragment.location.kind !== 'object') continue;
    const found = await store.head(fragment.location.key);
    if (found === undefined) throw corrupt(`fragment ${fragment.number} (${fragment.location.key}) is missing`);
    if (found.bytes !== fragment.bytes) throw corrupt(`fragment ${fragment.number} (${fragment.location.key}) has ${found.bytes} bytes, its manifest says ${fragment.bytes}`);
  }
}
