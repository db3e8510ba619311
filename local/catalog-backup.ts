import { writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError } from '#core/errors.ts';
import type { DisasterRecoveryFile } from '#core/model/dr-file.ts';
import { StatusCode } from '#core/status-codes.ts';
import { writeCatalogImage, type CatalogBackupOutcome } from '#agent/catalog/catalog-image.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { ensurePrivateDirectory, PRIVATE_FILE_MODE } from './private-files.ts';
import type { LocalRuntime } from './runtime.ts';

/** The name the database copy has inside the catalog image. */
export const CATALOG_FILE = 'cairn.db';

/**
 * `cairn catalog backup` standalone (NetBackup's catalog backup, NetWorker's
 * bootstrap): a consistent copy of the whole catalog, written as an image
 * of its own, and the disaster-recovery file that finds it.
 *
 * 1. SQLite's online backup API copies the one database (images, jobs,
 *    configuration, media: local/sqlite-database.ts) page by page into
 *    `$CAIRN_HOME/catalog-backup/<backupId>/cairn.db`: a consistent
 *    snapshot while `cairn local serve` keeps writing (WAL readers never block).
 * 2. The catalog image writer (edge-agent/catalog/catalog-image.ts) backs
 *    that folder up with the agent's image writer as a plain tar image and
 *    catalogues it in the live catalog (the copy taken in 1 does not have
 *    it: recovery adds it from its manifest).
 * 3. The DR file is written, owner-only, last: a DR file always names a
 *    complete image (under $CAIRN_HOME/dr/ unless `drFile` says).
 */
export async function backupLocalCatalog(runtime: LocalRuntime, options: { storageUnit: string; drFile?: string; retentionDays?: number; claimFor?: (backupId: string) => Promise<number>; signal?: AbortSignal }): Promise<CatalogBackupOutcome> {
  const unit = await runtime.config.getStorageUnit(options.storageUnit);
  if (unit === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${options.storageUnit} does not exist`);
  return writeCatalogImage(
    { catalog: runtime.catalog, jobs: runtime.jobs, now: () => runtime.clock.now(), openStore: openStorageUnit, ...(options.claimFor ? { claimFor: options.claimFor } : {}), ...(options.signal ? { signal: options.signal } : {}) },
    unit,
    {
      runtime: 'standalone',
      workDir: join(runtime.home, 'catalog-backup'),
      fileName: CATALOG_FILE,
      // SQLite's online backup: a consistent copy while other processes keep writing.
      produce: async (file) => void (await runtime.db.backup(file)),
      saveDr: drFileSaver(join(runtime.home, 'dr'), options.drFile),
      ...(options.retentionDays === undefined ? {} : { retentionDays: options.retentionDays }),
    },
  );
}

/** Written to a temporary name and renamed: a DR file is whole or absent. Owner-only: it names where every backup's catalog is. */
export async function writeDrFile(file: string, dr: DisasterRecoveryFile): Promise<void> {
  ensurePrivateDirectory(dirname(file));
  const partial = `${file}.partial`;
  await writeFile(partial, `${JSON.stringify(dr, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  await rename(partial, file);
}

/** Saves a DR file as `drFile`, or as `<backupId>.dr.json` in `drDir`, on this machine; resolves its path. */
export function drFileSaver(drDir: string, drFile?: string): (dr: DisasterRecoveryFile) => Promise<string> {
  return async (dr) => {
    const file = drFile ?? join(drDir, `${dr.backupId}.dr.json`);
    await writeDrFile(file, dr);
    return file;
  };
}
