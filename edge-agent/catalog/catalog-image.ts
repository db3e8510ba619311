import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, stopIfAborted } from '#core/errors.ts';
import { imageRecord } from '#core/catalog/image-record.ts';
import { makeBackupId } from '#core/ids.ts';
import { CATALOG_CLIENT, CATALOG_POLICY, CATALOG_SCHEDULE, DisasterRecoveryFile, DR_FILE_FORMAT, DR_FILE_VERSION } from '#core/model/dr-file.ts';
import type { Image } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { BackupTask } from '#core/model/task.ts';
import { readAll } from '#core/ports/object-store.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { StatusCode } from '#core/status-codes.ts';
import { runBackup } from '../image/backup.ts';
import { PRIVATE_DIRECTORY_MODE } from '../disk/fs-object-store.ts';

/** How long a catalog backup image is kept when the caller does not say (NetBackup keeps catalog backups like any image of its policy). */
export const DEFAULT_CATALOG_RETENTION_DAYS = 30;

export interface CatalogBackupOutcome {
  image: Image;
  dr: DisasterRecoveryFile;
  /** Where the DR file was written: a path on the machine that ran the backup, or `s3://bucket/key` on the unit (the catalog-job Lambda's). */
  drFile: string;
}

/** What writing a catalog image needs of the catalog it is the backup of. */
export interface CatalogImageDeps {
  catalog: CatalogStore;
  jobs: Pick<JobStore, 'nextJobId'>;
  now: () => Date;
  /** Opens the unit the image is written to (the runtime's opener: local/open-storage-unit.ts, or the Lambda's S3 client). */
  openStore: StorageUnitOpener;
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
  /** A private folder of this machine the catalog copy is made in (removed afterwards): $CAIRN_HOME/catalog-backup, a temporary folder, the Lambda's /tmp. */
  workDir: string;
  /** The copy's file name in the image. */
  fileName: string;
  /** Writes the consistent copy of the catalog to `file`. */
  produce: (file: string) => Promise<void>;
  /**
   * Keeps the DR file once the image is catalogued and resolves where it
   * is: a file of this machine (local/catalog-backup.ts writeDrFile), or an
   * object next to the image on its unit (the catalog-job Lambda, which has
   * no $CAIRN_HOME).
   */
  saveDr: (dr: DisasterRecoveryFile) => Promise<string>;
  retentionDays?: number;
}

/**
 * A catalog backup's image, for either runtime (NetBackup's catalog backup,
 * NetWorker's bootstrap): `produce` writes the consistent catalog copy
 * (SQLite's online backup, or the DynamoDB tables' items) into a folder of
 * `workDir`; the agent's own image writer backs that folder up (client
 * CATALOG_CLIENT, policy CATALOG_POLICY, level full), so the catalog image
 * has fragments, an index and a manifest like any image: `cairn verify`
 * and `cairn restore` read it. Its fragments are plain tar, never
 * compressed nor cut into pieces, so recovery needs nothing but a tar
 * reader (and the writer never loads the zstd codec). The image is then
 * catalogued in `deps.catalog` (the copy does not have it: recovery adds
 * it from its manifest), and the DR file saved, last: a DR file always
 * names a complete image. The copy is taken before the image's id is
 * claimed, so the copy holds no claim of an image it does not have.
 *
 * Here in edge-agent/ (not local/) because the catalog-job Lambda writes
 * catalog images too: lambdas/catalog-job.ts, its composition root, is the
 * one lambdas/ file allowed to import this folder (.dependency-cruiser.js).
 */
export async function writeCatalogImage(deps: CatalogImageDeps, unit: StorageUnit, options: CatalogImageOptions): Promise<CatalogBackupOutcome> {
  if (unit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${unit.name} is a tape unit: a catalog backup goes to a disk or S3 unit, which recovery reads without a catalog`);
  const now = deps.now();
  const backupId = makeBackupId(CATALOG_CLIENT, now);
  if ((await deps.catalog.getImage(backupId)) !== undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `a catalog backup ${backupId} was taken this second already`);
  const folder = join(options.workDir, backupId);
  await removeLeftCopies(options.workDir, now);
  await mkdir(folder, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  try {
    const copy = join(folder, options.fileName);
    await options.produce(copy);
    stopIfAborted(deps.signal);
    const catalogSha256 = await sha256OfFile(copy);
    const catalogBytes = (await stat(copy)).size;
    const jobId = deps.claimFor ? await deps.claimFor(backupId) : await deps.jobs.nextJobId();
    const claimed = await deps.catalog.claimBackupId({ backupId, jobId, client: CATALOG_CLIENT, storageUnit: unit.name, claimedAt: now.toISOString() });
    if (!claimed) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `backup id ${backupId} is claimed already`);
    const store = await deps.openStore(unit);
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
    return { image, dr, drFile: await options.saveDr(dr) };
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
