import { systemTimer } from '#lambdas/system-clock.ts';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import { primaryCopy } from '#core/model/image.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type GlobalOptions, openStandaloneRuntime, withBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { wholeNumber } from '../number-option.ts';

/**
 * `cairn catalog backup | recover | import` (NetBackup's catalog backup,
 * DR recovery and bpimport). Standalone here; the cloud catalog's backup
 * and recovery are `--aws` (aws/dynamo-catalog-dump.ts).
 */
export function registerCatalogDr(catalog: Command): void {
  catalog
    .command('backup')
    .description('back up the whole catalog as an image on a storage unit and write the disaster-recovery file that finds it')
    .requiredOption('--to <stu>', 'the disk or S3 storage unit to write the catalog image to (not one under $CAIRN_HOME: it would go with it)')
    .option('--dr-file <path>', 'where to write the DR file (default $CAIRN_HOME/dr/<backupId>.dr.json)')
    .option('--retention-days <n>', 'how long the catalog image is kept (default 30)', wholeNumber)
    .option('--json', 'print JSON')
    .action(async (options: { to: string; drFile?: string; retentionDays?: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      const drFile = options.drFile === undefined ? undefined : resolve(options.drFile);
      const outcome = globals.aws ? await (await import('../catalog-cloud.ts')).backupCloudCatalog(globals, { storageUnit: options.to, drFile }) : await backupStandalone(globals, { storageUnit: options.to, drFile, retentionDays: options.retentionDays });
      if (json) return printJson({ jobId: outcome.jobId, backupId: outcome.dr.backupId, storageUnit: outcome.dr.storageUnit.name, manifestKey: outcome.dr.manifestKey, catalogBytes: outcome.dr.catalogBytes, catalogSha256: outcome.dr.catalogSha256, drFile: outcome.drFile });
      note(`job ${outcome.jobId}: catalog backup ${outcome.dr.backupId} written to storage unit ${outcome.dr.storageUnit.name} (${formatBytes(outcome.dr.catalogBytes)} of catalog, sha256 ${outcome.dr.catalogSha256})`);
      note(`disaster-recovery file: ${outcome.drFile}`);
      note('keep a copy of the DR file off this machine (mail it, print it, put it in a vault): `cairn catalog recover --dr-file FILE` needs it on a new machine');
      if (outcome.warning) note(`warning: ${outcome.warning}`);
    });
  catalog
    .command('recover')
    .description('rebuild the catalog on a new machine from the catalog image a DR file names (refuses a non-empty catalog without --force)')
    .requiredOption('--dr-file <path>', 'the disaster-recovery file `cairn catalog backup` wrote (with --aws also s3://bucket/key, where a scheduled catalog backup keeps it)')
    .option('--force', 'replace the catalog this home has')
    .option('--unit-path <dir>', "the DR file's disk unit is mounted here now (not where the DR file says): read it here, and the recovered catalog defines the unit here")
    .option('--unit-bucket <name>', "the DR file's S3 unit's objects are in this bucket now (a replica's)")
    .option('--unit-prefix <prefix>', "the DR file's S3 unit's objects are under this prefix now")
    .option('--json', 'print JSON')
    .action(async (options: { drFile: string; force?: boolean; unitPath?: string; unitBucket?: string; unitPrefix?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      const relocate = { ...(options.unitPath !== undefined ? { path: resolve(options.unitPath) } : {}), ...(options.unitBucket !== undefined ? { bucket: options.unitBucket } : {}), ...(options.unitPrefix !== undefined ? { prefix: options.unitPrefix } : {}) };
      const outcome = globals.aws
        ? await (await import('../catalog-cloud.ts')).recoverCloudCatalog(globals, { drFile: options.drFile.startsWith('s3://') ? options.drFile : resolve(options.drFile), force: options.force ?? false, relocate })
        : await (await import('#local/catalog-recover.ts')).recoverLocalCatalog({ drFile: resolve(options.drFile), home: globals.home, force: options.force ?? false, relocate });
      if (json) return printJson(outcome);
      note(`catalog recovered from ${outcome.backupId}${'home' in outcome ? ` into ${outcome.home}` : ''}: ${outcome.images} images, ${outcome.jobs} jobs`);
      if (outcome.relocatedUnit) note(`  storage unit ${outcome.relocatedUnit.name} is now defined at ${outcome.relocatedUnit.to} (the DR file had ${outcome.relocatedUnit.from})`);
      for (const backupId of outcome.committedClaims) note(`  image ${backupId}, being written at the catalog backup, was complete on its unit: catalogued`);
      for (const problem of outcome.problems) note(`  ${problem}`);
    });
  catalog
    .command('import')
    .description('catalog the images found on a storage unit from their manifests alone (like bpimport); images already catalogued are left alone')
    .requiredOption('--stu <name>', 'the storage unit to read')
    .option('--retention-days <n>', 'retention of an image whose policy schedule the catalog does not have (default 30)', wholeNumber)
    .option('--json', 'print JSON')
    .action(async (options: { stu: string; retentionDays?: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      await withBackend(globals, async (backend) => {
        const unit = await backend.config.getStorageUnit(options.stu);
        if (unit === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${options.stu} does not exist`);
        const [{ importImages }, { openStorageUnit }] = await Promise.all([import('#local/catalog-import.ts'), import('#local/open-storage-unit.ts')]);
        const outcome = await importImages({ store: await openStorageUnit(unit), catalog: backend.catalog, config: backend.config, now: backend.clock.now(), emm: backend.emm }, unit, { retentionDays: options.retentionDays });
        if (json) {
          return printJson({
            imported: outcome.imported.map((i) => ({ backupId: i.backupId, client: i.client, policy: i.policy, level: i.level, fileCount: i.fileCount, bytes: i.bytes, copyNumber: primaryCopy(i).copyNumber })),
            alreadyCatalogued: outcome.alreadyCatalogued,
            skipped: outcome.skipped,
          });
        }
        for (const i of outcome.imported) note(`imported ${i.backupId} (${i.level}, ${i.fileCount} files, ${formatBytes(i.bytes)})`);
        for (const s of outcome.skipped) note(`skipped ${s.folder}: ${s.reason}`);
        note(`${outcome.imported.length} imported, ${outcome.alreadyCatalogued.length} already in the catalog, ${outcome.skipped.length} skipped`);
      });
    });
}

async function backupStandalone(globals: GlobalOptions, options: { storageUnit: string; drFile?: string; retentionDays?: number }) {
  const [{ runJanitor }, { backupLocalCatalog }, { catalogBackupAsJob }] = await Promise.all([import('#local/janitor.ts'), import('#local/catalog-backup.ts'), import('#local/catalog-backup-job.ts')]);
  const runtime = await openStandaloneRuntime(globals.home);
  try {
    await runJanitor(runtime);
    const { jobId, result: outcome } = await catalogBackupAsJob({ jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner, timer: systemTimer }, { storageUnit: options.storageUnit }, (claimFor, signal) => backupLocalCatalog(runtime, { ...options, claimFor, signal }));
    const unit = outcome.dr.storageUnit;
    const inHome = unit.kind === 'disk' && `${resolve(unit.path)}/`.startsWith(`${resolve(runtime.home)}/`);
    return { ...outcome, jobId, warning: inHome ? `storage unit ${unit.name} is under ${runtime.home}: losing the machine loses the catalog backup with it` : undefined };
  } finally {
    runtime.close();
  }
}
