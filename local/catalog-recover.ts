import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as createExtract } from 'tar-stream';
import { CairnError, messageOf } from '#core/errors.ts';
import { DisasterRecoveryFile } from '#core/model/dr-file.ts';
import { relocateDrUnit, type DrUnitRelocation, type RelocatedUnit } from '#core/model/dr-unit-relocation.ts';
import type { Image } from '#core/model/image.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { readAll, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeIssues } from '#core/validation.ts';
import { readManifest, type ImageManifest } from '#agent/image/manifest.ts';
import { pathOfMember } from '#agent/image/tar-member.ts';
import { recordFromManifest } from '#agent/image/manifest-record.ts';
import { commitCompleteClaims } from './catalog-import.ts';
import { DEFAULT_CATALOG_RETENTION_DAYS } from '#agent/catalog/catalog-image.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { ensurePrivateDirectory, PRIVATE_FILE_MODE } from './private-files.ts';
import { openLocalRuntime, resolveCairnHome } from './runtime.ts';

export interface RecoverOutcome {
  home: string;
  backupId: string;
  images: number;
  jobs: number;
  /** Backups running at the catalog copy whose complete images were found and committed (commitCompleteClaims). */
  committedClaims: string[];
  problems: string[];
  /** The DR file's unit, when `relocate` moved it: the recovered catalog defines it where it is now. */
  relocatedUnit?: RelocatedUnit;
}

/** Reads and checks a DR file: 20 when it is not one (not JSON, or not this schema). */
export async function readDrFile(file: string): Promise<DisasterRecoveryFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${file} cannot be read as a disaster-recovery file: ${messageOf(error)}`, { cause: error });
  }
  const parsed = DisasterRecoveryFile.safeParse(json);
  if (!parsed.success) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${file} is not a Cairn disaster-recovery file`, { details: describeIssues(parsed.error) });
  return parsed.data;
}

/**
 * `cairn catalog recover` standalone: on a machine with no catalog (or with
 * `force`), rebuilds `$CAIRN_HOME/cairn.db` from the catalog image the DR
 * file names, trusting nothing it has not checked against the DR file:
 * the manifest's sha256 and size, then the database member's sha256 and
 * size, then SQLite's own integrity check; the database is put in place by
 * rename, only once all of that passed. The catalog image itself is then
 * catalogued in the recovered catalog from its manifest (the copy it holds
 * was taken before the image existed), so it is not an orphan there.
 * Refuses (20) a home whose catalog has images or jobs, unless `force`.
 * With `relocate`, the DR file's unit is read where it is now (its disk
 * directory mounted elsewhere), and the recovered catalog defines it there,
 * so the images on it restore without a further step.
 */
export async function recoverLocalCatalog(options: { drFile: string; home?: string; force?: boolean; relocate?: DrUnitRelocation }): Promise<RecoverOutcome> {
  const { dr, relocated } = relocateDrUnit(await readDrFile(options.drFile), options.relocate ?? {});
  if (dr.runtime !== 'standalone') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${options.drFile} is the DR file of a cloud catalog: recover it with --aws`);
  const home = resolveCairnHome(options.home);
  const dbFile = join(home, 'cairn.db');
  if (!options.force && existsSync(dbFile)) await refuseNonEmpty(home);
  ensurePrivateDirectory(home);
  // What a killed recovery left: a whole or partial copy of the catalog, never to lie about.
  for (const name of await readdir(home)) if (name.startsWith('cairn.db.recovering-')) await rm(join(home, name), { force: true });
  const partial = join(home, `cairn.db.recovering-${process.pid}`);
  let manifest: ImageManifest;
  try {
    manifest = await fetchCatalogCopy(dr, partial);
    checkIntegrity(partial);
    for (const suffix of ['', '-wal', '-shm']) await rm(`${dbFile}${suffix}`, { force: true });
    await rename(partial, dbFile);
  } finally {
    // The integrity check's read-only connection leaves the copy's (empty) -wal and -shm files behind.
    for (const suffix of ['', '-wal', '-shm']) await rm(`${partial}${suffix}`, { force: true });
  }
  const runtime = await openLocalRuntime({ home });
  try {
    // Before anything opens the unit (the claims below): the recovered copy still defines it where it was.
    if (relocated) await runtime.config.putStorageUnit(dr.storageUnit);
    await catalogTheCatalogImage(runtime, dr, manifest, runtime.clock.now());
    const claims = await commitCompleteClaims({ catalog: runtime.catalog, config: runtime.config, openStore: openStorageUnit });
    const count = (table: string): number => (runtime.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { home, backupId: dr.backupId, images: count('images'), jobs: count('jobs'), committedClaims: claims.committed, problems: claims.problems, ...(relocated ? { relocatedUnit: relocated } : {}) };
  } finally {
    runtime.close();
  }
}

/** SQLite's own check of the copy, before it is put in place: 2001 when it fails. */
function checkIntegrity(file: string): void {
  const db = new Database(file, { readonly: true });
  try {
    const check: unknown = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new CairnError(StatusCode.CORRUPT_IMAGE, `the recovered catalog fails SQLite's integrity check: ${String(check)}`);
  } finally {
    db.close();
  }
}

/**
 * The recovered catalog was copied before its own backup image existed:
 * that image is catalogued in it now, from its manifest (and its storage
 * unit defined, if the copy did not have it), so it is restorable and no
 * orphan on the unit. Left alone when the catalog has it.
 */
export async function catalogTheCatalogImage(stores: { catalog: CatalogStore; config: ConfigStore }, dr: DisasterRecoveryFile, manifest: ImageManifest, now: Date): Promise<void> {
  const image: Image = recordFromManifest(manifest, { storageUnit: dr.storageUnit.name, manifestKey: dr.manifestKey, retentionDays: DEFAULT_CATALOG_RETENTION_DAYS });
  if ((await stores.config.getStorageUnit(dr.storageUnit.name)) === undefined) await stores.config.putStorageUnit(dr.storageUnit);
  if ((await stores.catalog.getImage(image.backupId)) !== undefined) return;
  if (await stores.catalog.claimBackupId({ backupId: image.backupId, jobId: image.jobId, client: image.client, storageUnit: dr.storageUnit.name, claimedAt: now.toISOString() })) await stores.catalog.putImage(image);
}

/**
 * The catalog copy a DR file names, written to `target` once it checked:
 * the manifest's sha256 and size against the DR file (219 when the unit or
 * the manifest cannot be read, 2001 when it differs), then the copy's
 * sha256 and size as it is read out of the image's fragments. Resolves with
 * the manifest, from which the catalog image's own record is rebuilt.
 */
export async function fetchCatalogCopy(dr: DisasterRecoveryFile, target: string): Promise<ImageManifest> {
  const store = await openStorageUnit(dr.storageUnit);
  // Both the get and the read inside the catch: a unit whose directory is gone fails at the get.
  const manifestBytes = await (async () => readAll(await store.get(dr.manifestKey)))().catch((error: unknown) => {
    const moved = dr.storageUnit.kind === 'disk' ? ' (mounted elsewhere on this machine? give --unit-path DIR)' : dr.storageUnit.kind === 's3' ? ' (in another bucket now? give --unit-bucket, --unit-prefix)' : '';
    throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `the catalog image's manifest ${dr.manifestKey} cannot be read from storage unit ${dr.storageUnit.name}${moved}: ${messageOf(error)}`, { cause: error });
  });
  if (manifestBytes.length !== dr.manifestBytes || createHash('sha256').update(manifestBytes).digest('hex') !== dr.manifestSha256) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `the catalog image's manifest ${dr.manifestKey} is not the one the DR file names (sha256 or size differ)`);
  }
  const manifest = await readManifest(store, dr.manifestKey);
  if (manifest.backupId !== dr.backupId) throw new CairnError(StatusCode.CORRUPT_IMAGE, `the manifest ${dr.manifestKey} is of image ${manifest.backupId}, not ${dr.backupId}`);
  await extractMember(store, manifest.fragments.map((f) => f.location), dr.catalogMember, target, dr);
  return manifest;
}

async function refuseNonEmpty(home: string): Promise<void> {
  const runtime = await openLocalRuntime({ home });
  try {
    const rows = (runtime.db.prepare('SELECT (SELECT count(*) FROM images) + (SELECT count(*) FROM jobs) AS n').get() as { n: number }).n;
    if (rows > 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${resolve(home)} has a catalog with ${rows} images and jobs: recovering would replace it (give --force to do so)`);
  } finally {
    runtime.close();
  }
}

/**
 * Streams the fragments through a tar reader (tar-stream) and writes the
 * one member named `member` to `target`, checking its sha256 and size
 * against the DR file on the way. 2001 when no fragment has it or it differs.
 */
async function extractMember(store: ObjectStore, locations: readonly { kind: string; key?: string }[], member: string, target: string, dr: DisasterRecoveryFile): Promise<void> {
  for (const location of locations) {
    if (location.kind !== 'object' || location.key === undefined) throw new CairnError(StatusCode.CORRUPT_IMAGE, 'the catalog image has a fragment that is not an object of its storage unit');
    let found: { sha256: string; bytes: number } | undefined;
    const extract = createExtract();
    extract.on('entry', (header, stream, next) => {
      if (found !== undefined || header.type !== 'file' || pathOfMember(header.name) !== member) {
        stream.on('end', next);
        stream.resume();
        return;
      }
      void (async () => {
        const hash = createHash('sha256');
        let bytes = 0;
        const out = await open(target, 'w', PRIVATE_FILE_MODE);
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            hash.update(chunk);
            bytes += chunk.length;
            await out.write(chunk);
          }
          await out.sync();
        } finally {
          await out.close();
        }
        found = { sha256: hash.digest('hex'), bytes };
        next();
      })().catch((error: unknown) => extract.destroy(error as Error));
    });
    try {
      await pipeline(Readable.from(await store.get(location.key)), extract);
    } catch (error) {
      if (error instanceof CairnError) throw error;
      throw new CairnError(StatusCode.CORRUPT_IMAGE, `fragment ${location.key} of the catalog image ${dr.backupId} cannot be read as a tar archive: ${messageOf(error)}`, { cause: error });
    }
    if (found === undefined) continue;
    if (found.sha256 !== dr.catalogSha256 || found.bytes !== dr.catalogBytes) throw new CairnError(StatusCode.CORRUPT_IMAGE, `the catalog database in image ${dr.backupId} is not the one the DR file names (sha256 or size differ)`);
    return;
  }
  throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${dr.backupId} has no member ${member}`);
}
