import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rm, stat, writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError, stopIfAborted } from '#core/errors.ts';
import { imageRecord } from '#core/catalog/image-record.ts';
import { makeBackupId } from '#core/ids.ts';
import { CATALOG_CLIENT, CATALOG_POLICY, CATALOG_SCHEDULE, DisasterRecoveryFile, DR_FILE_FORMAT, DR_FILE_VERSION } from '#core/model/dr-file.ts';
import type { Image } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { BackupTask } from '#core/model/task.ts';
import { readAll } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { runBackup } from '#agent/image/backup.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { ensurePrivateDirectory, PRIVATE_FILE_MODE } from './private-files.ts';
import type { LocalRuntime } from './runtime.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';

/** How long a catalog backup image is kept when the caller does not say (NetBackup keeps catalog backups like any image of its policy). */
export const DEFAULT_CATALOG_RETENTION_DAYS = 30;
/** The name the database copy has inside the catalog image. */
export const CATALOG_FILE = 'cairn.db';

export interface CatalogBackupOutcome {
  image: Image;
  dr: DisasterRecoveryFile;
  /** Where the DR file was written. */
  drFile: string;
}

/**
 * `cairn catalog backup` standalone (NetBackup's catalog backup, NetWorker's
 * bootstrap): a consistent copy of the whole catalog, written as an image
 * of its own, and the disaster-recovery file that finds it.
 *
 * 1. SQLite's online backup API copies the one database (images, jobs,
 *    configuration, media: local/sqlite-database.ts) page by page into
 *    `$CAIRN_HOME/catalog-backup/<backupId>/cairn.db`: a consistent
 *    snapshot while `cairn local serve` keeps writing (WAL readers never block).
 * 2. The agent's own image writer backs that folder up (client
 *    CATALOG_CLIENT, policy CATALOG_POLICY, level full), so the catalog image
 *    has fragments, an index and a manifest like any image: `cairn verify`
 *    and `cairn restore` read it. Its fragments are plain tar, never
 *    compressed nor cut into pieces, so recovery needs nothing but a tar reader.
 * 3. The image is catalogued in the live catalog (the copy taken in 1 does
 *    not have it: recovery adds it from its manifest), then the DR file is
 *    written, owner-only, last: a DR file always names a complete image.
 */
export async function backupLocalCatalog(runtime: LocalRuntime, options: { storageUnit: string; drFile?: string; retentionDays?: number; claimFor?: (backupId: string) => Promise<number>; signal?: AbortSignal }): Promise<CatalogBackupOutcome> {
  const unit = await runtime.config.getStorageUnit(options.storageUnit);
  if (unit === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${options.storageUnit} does not exist`);
  return writeCatalogImage(
    { catalog: runtime.catalog, jobs: runtime.jobs, now: () => runtime.clock.now(), ...(options.claimFor ? { claimFor: options.claimFor } : {}), ...(options.signal ? { signal: options.signal } : {}) },
    unit,
    {
      runtime: 'standalone',
      workDir: join(runtime.home, 'catalog-backup'),
      drDir: join(runtime.home, 'dr'),
      fileName: CATALOG_FILE,
      // SQLite's online backup: a consistent copy while other processes keep writing.
      produce: async (file) => void (await runtime.db.backup(file)),
      ...(options.drFile === undefined ? {} : { drFile: options.drFile }),
      ...(options.retentionDays === undefined ? {} : { retentionDays: options.retentionDays }),
    },
  );
}

/** What writing a catalog image needs of the catalog it is the backup of. */
export interface CatalogImageDeps {
  catalog: CatalogStore;
  jobs: Pick<JobStore, 'nextJobId'>;
  now: () => Date;
  /**
   * The job the image's id is claimed for: a catalog-backup job records the
   * image it writes and gives its own id, so the janitor that ends the job
   * of a killed run finds the claim (local/catalog-backup-job.ts). Absent:
   * a new job id, which no job has.
   */
  claimFor?: (backupId: string) => Promise<number>;
  /**
   * Stops the catalog backup (its job was cancelled): looked at before the
   * claim, by the image writer while it writes (it removes what it wrote),
   * and before the catalog commit. A stop after the claim leaves the claim
   * of an ended job, which the janitor drops with its data.
   */
  signal?: AbortSignal;
}

export interface CatalogImageOptions {
  runtime: DisasterRecoveryFile['runtime'];
  /** A private folder of this machine the catalog copy is made in (removed afterwards). */
  workDir: string;
  /** Where the DR file goes unless `drFile` says. */
  drDir: string;
  drFile?: string;
  /** The copy's file name in the image. */
  fileName: string;
  /** Writes the consistent copy of the catalog to `file`. */
  produce: (file: string) => Promise<void>;
  retentionDays?: number;
}

/**
 * Steps 2 and 3 above, for either runtime: `produce` writes the catalog
 * copy (SQLite online backup, or the DynamoDB tables' items), then it is
 * written as an image on `unit`, catalogued in `deps.catalog`, and the DR
 * file written. The copy is taken before the image's id is claimed, so
 * the copy holds no claim of an image it does not have.
 */
export async function writeCatalogImage(deps: CatalogImageDeps, unit: StorageUnit, options: CatalogImageOptions): Promise<CatalogBackupOutcome> {
  if (unit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${unit.name} is a tape unit: a catalog backup goes to a disk or S3 unit, which recovery reads without a catalog`);
  const now = deps.now();
  const backupId = makeBackupId(CATALOG_CLIENT, now);
  if ((await deps.catalog.getImage(backupId)) !== undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `a catalog backup ${backupId} was taken this second already`);
  const folder = join(options.workDir, backupId);
  await removeLeftCopies(options.workDir, now);
  ensurePrivateDirectory(folder);
  try {
    const copy = join(folder, options.fileName);
    await options.produce(copy);
    stopIfAborted(deps.signal);
    const catalogSha256 = await sha256OfFile(copy);
    const catalogBytes = (await stat(copy)).size;
    const jobId = deps.claimFor ? await deps.claimFor(backupId) : await deps.jobs.nextJobId();
    const claimed = await deps.catalog.claimBackupId({ backupId, jobId, client: CATALOG_CLIENT, storageUnit: unit.name, claimedAt: now.toISOString() });
    if (!claimed) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `backup id ${backupId} is claimed already`);
    const store = await openStorageUnit(unit);
    const task = BackupTask.parse({ jobId, backupId, client: CATALOG_CLIENT, policy: CATALOG_POLICY, schedule: CATALOG_SCHEDULE, level: 'full', selections: [folder], storageUnit: plainTarUnit(unit) });
    const result = await runBackup(task, { store, reporter: { progress: async () => undefined, heartbeat: async () => undefined }, now: deps.now, ...(deps.signal ? { signal: deps.signal } : {}) });
    stopIfAborted(deps.signal);
    const image = imageRecord({ client: CATALOG_CLIENT, policy: CATALOG_POLICY, schedule: CATALOG_SCHEDULE, level: 'full', storageUnit: unit.name, jobId, retentionDays: options.retentionDays ?? DEFAULT_CATALOG_RETENTION_DAYS, selections: [folder] }, result);
    await deps.catalog.putImage(image);
    const manifest = await readAll(await store.get(result.manifestKey));
    const dr = DisasterRecoveryFile.parse({
      format: DR_FILE_FORMAT,
      formatVersion: DR_FILE_VERSION,
      runtime: options.runtime,
      backupId,
      createdAt: image.createdAt,
      storageUnit: unit,
      manifestKey: result.manifestKey,
      manifestSha256: createHash('sha256').update(manifest).digest('hex'),
      manifestBytes: manifest.length,
      catalogMember: copy,
      catalogSha256,
      catalogBytes,
    });
    const drFile = options.drFile ?? join(options.drDir, `${backupId}.dr.json`);
    await writeDrFile(drFile, dr);
    return { image, dr, drFile };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * The unit as the catalog image is written to it: plain tar fragments and
 * no pieces (one member, whatever its size), so recovery reads the database
 * from the fragment with a tar reader alone. Only the task sees this; the
 * unit's own settings are not changed.
 */
function plainTarUnit(unit: StorageUnit): StorageUnit {
  return { ...unit, compression: { codec: 'none' }, pieceBytes: Number.MAX_SAFE_INTEGER };
}

/** A catalog copy older than this in the work folder was left by a killed catalog backup (one takes seconds). */
const LEFT_COPY_AGE_MS = 3600_000;

/**
 * Removes the catalog copies a killed catalog backup left in `workDir`
 * (each is a whole copy of the catalog: it must not lie about). A folder
 * is named after its backup id, so its age is in its name; younger ones
 * may be another catalog backup's, running now, and stay.
 */
async function removeLeftCopies(workDir: string, now: Date): Promise<void> {
  const entries = await readdir(workDir).catch(() => [] as string[]);
  for (const name of entries) {
    const match = /^cairn-catalog_(\d{10})$/.exec(name);
    if (match && now.getTime() - Number(match[1]) * 1000 > LEFT_COPY_AGE_MS) await rm(join(workDir, name), { recursive: true, force: true });
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Written to a temporary name and renamed: a DR file is whole or absent. Owner-only: it names where every backup's catalog is. */
export async function writeDrFile(file: string, dr: DisasterRecoveryFile): Promise<void> {
  ensurePrivateDirectory(dirname(file));
  const partial = `${file}.partial`;
  await writeFile(partial, `${JSON.stringify(dr, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  await rename(partial, file);
}
