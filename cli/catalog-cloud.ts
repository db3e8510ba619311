import { systemTimer } from '#lambdas/system-clock.ts';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients } from '#aws/clients.ts';
import { resolveDeployment } from '#aws/deployment-outputs.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { countItems, dumpTablesToFile, loadTables, TableDump, TABLES_FILE } from '#aws/dynamo-table-dump.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { readAll } from '#core/ports/object-store.ts';
import type { TableName } from '#aws/tables.ts';
import { CairnError, messageOf } from '#core/errors.ts';
import { relocateDrUnit, type DrUnitRelocation, type RelocatedUnit } from '#core/model/dr-unit-relocation.ts';
import { StatusCode } from '#core/status-codes.ts';
import { writeCatalogImage, type CatalogBackupOutcome } from '#agent/catalog/catalog-image.ts';
import { drFileSaver } from '#local/catalog-backup.ts';
import { catalogTheCatalogImage, fetchCatalogCopy, readDrFile } from '#local/catalog-recover.ts';
import { PRIVATE_FILE_MODE } from '#local/private-files.ts';
import { commitCompleteClaims } from '#local/catalog-import.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { resolveCairnHome } from '#local/runtime.ts';
import type { GlobalOptions } from './backend-interface.ts';
import { catalogBackupAsJob, endRecoveredCatalogBackupJob } from '#local/catalog-backup-job.ts';
import { cliOwner } from './cli-owner.ts';

async function openTables(globals: GlobalOptions) {
  const deployment = await resolveDeployment(globals);
  const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
  const client = clients.documents;
  const names: Record<TableName, string> = { config: deployment.configTable, jobs: deployment.jobsTable, catalog: deployment.catalogTable, media: deployment.mediaTable };
  return {
    client,
    names,
    config: new DynamoConfigStore({ client, tableName: names.config }),
    jobs: new DynamoJobStore({ client, tableName: names.jobs }),
    catalog: new DynamoCatalogStore({ client, tableName: names.catalog }),
    destroy: () => clients.destroy(),
  };
}

/**
 * `cairn --aws catalog backup`: the four DynamoDB tables scanned
 * (aws/dynamo-table-dump.ts says why a scan and not an export) into one
 * JSON file, written from this machine as a catalog image like the
 * standalone one, catalogued in the Catalog table; the DR file goes under
 * $CAIRN_HOME/dr/ of this machine unless `drFile` says.
 */
export async function backupCloudCatalog(globals: GlobalOptions, options: { storageUnit: string; drFile?: string }): Promise<CatalogBackupOutcome & { jobId: number; warning?: string }> {
  const tables = await openTables(globals);
  const work = await mkdtemp(join(tmpdir(), 'cairn-catalog-'));
  try {
    const run = await catalogBackupAsJob({ jobs: tables.jobs, now: () => new Date(), owner: cliOwner(), timer: systemTimer }, { storageUnit: options.storageUnit }, async (claimFor, signal) => {
      const unit = await tables.config.getStorageUnit(options.storageUnit);
      if (unit === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${options.storageUnit} does not exist`);
      return writeCatalogImage({ catalog: tables.catalog, jobs: tables.jobs, now: () => new Date(), openStore: openStorageUnit, claimFor, signal }, unit, {
        runtime: 'cloud',
        workDir: work,
        fileName: TABLES_FILE,
        produce: (file) => dumpTablesToFile(tables.client, tables.names, file),
        saveDr: drFileSaver(join(resolveCairnHome(globals.home), 'dr'), options.drFile),
      });
    });
    return { ...run.result, jobId: run.jobId };
  } finally {
    await rm(work, { recursive: true, force: true });
    tables.destroy();
  }
}

/**
 * `cairn --aws catalog recover`: the tables' items put back from the
 * catalog image a DR file names (checked as the standalone recovery
 * checks it), into the deployment's tables. Refuses (20) tables holding
 * images or jobs unless `force` (a freshly deployed stack has none).
 */
export async function recoverCloudCatalog(
  globals: GlobalOptions,
  options: { drFile: string; force: boolean; relocate?: DrUnitRelocation },
): Promise<{ backupId: string; images: number; jobs: number; items: Record<TableName, number>; committedClaims: string[]; problems: string[]; relocatedUnit?: RelocatedUnit }> {
  const tables = await openTables(globals);
  const work = await mkdtemp(join(tmpdir(), 'cairn-recover-'));
  try {
    const { dr, relocated } = relocateDrUnit(await readDrFile(await localDrFile(globals, options.drFile, work)), options.relocate ?? {});
    if (dr.runtime !== 'cloud') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${options.drFile} is the DR file of a standalone catalog: recover it without --aws`);
    if (!options.force) {
      const counts = await countItems(tables.client, tables.names);
      if (counts.catalog + counts.jobs > 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the deployment's tables hold ${counts.catalog} catalog and ${counts.jobs} job items: recovering would overwrite them (give --force to do so)`);
    }
    const file = join(work, TABLES_FILE);
    const manifest = await fetchCatalogCopy(dr, file);
    let dump: TableDump;
    try {
      dump = TableDump.parse(JSON.parse(await readFile(file, 'utf8')));
    } catch (error) {
      throw new CairnError(StatusCode.CORRUPT_IMAGE, `the catalog image ${dr.backupId} does not hold a copy of the tables: ${messageOf(error)}`, { cause: error });
    }
    const items = await loadTables(tables.client, tables.names, dump);
    // The tables' copy defines the unit where it was: moved before the claims below open it.
    if (relocated) await tables.config.putStorageUnit(dr.storageUnit);
    await catalogTheCatalogImage({ catalog: tables.catalog, config: tables.config }, dr, manifest, new Date());
    // The catalog-backup job that wrote this copy was ACTIVE in it: its image is complete, so it ended well.
    const image = await tables.catalog.getImage(dr.backupId);
    if (image) await endRecoveredCatalogBackupJob(tables.jobs, image, new Date());
    const claims = await commitCompleteClaims({ catalog: tables.catalog, config: tables.config, openStore: openStorageUnit });
    return { backupId: dr.backupId, images: (await tables.catalog.listImages()).length, jobs: dump.tables.jobs.filter((i) => i.pk === 'JOB').length, items, committedClaims: claims.committed, problems: claims.problems, ...(relocated ? { relocatedUnit: relocated } : {}) };
  } finally {
    await rm(work, { recursive: true, force: true });
    tables.destroy();
  }
}

/**
 * The DR file as a file of this machine: `drFile` itself, or, given as
 * `s3://bucket/key` (where the catalog-job Lambda writes it, next to the
 * catalog image: its job's `drFile`), downloaded into `work` first with
 * this command's clients.
 */
async function localDrFile(globals: GlobalOptions, drFile: string, work: string): Promise<string> {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(drFile);
  if (!match) return drFile;
  const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
  try {
    const body = await readAll(await new S3ObjectStore({ bucket: match[1]!, prefix: '', client: clients.s3 }).get(match[2]!));
    const file = join(work, 'dr.json');
    await writeFile(file, body, { mode: PRIVATE_FILE_MODE });
    return file;
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the DR file ${drFile} could not be read: ${messageOf(error)}`, { cause: error });
  } finally {
    clients.destroy();
  }
}
