import type { CatalogCheckDeps } from '#core/catalog/catalog-check.ts';
import type { Image, ImageCopy } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { Clock } from '#core/ports/clock.ts';
import { holdersOfUnloads } from '#core/media/idle-unload.ts';
import { tapeFragmentProblem } from '#core/media/tape-image-check.ts';
import { checkImageObjects } from '#agent/catalog/image-objects-check.ts';
import { listDiskObjects } from '#agent/disk/fs-inventory.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import type { StorageInventory } from '#core/ports/storage-inventory.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { ExecutionStatuses } from '#core/ports/execution-status.ts';
import type { GlobalOptions } from './backend-interface.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { LocalRuntime } from '#local/runtime.ts';
import { isOrphanOwner } from '#local/orphans.ts';

/** The catalog check's ports in one runtime, and how to close what they opened. */
export interface CatalogCheckRuntime {
  deps: CatalogCheckDeps;
  /** Where the check's own catalog-check job is recorded, and who runs it. */
  jobs: JobStore;
  owner: string;
  clock: Clock;
  close(): void;
}

/** Disk units walked on this machine, S3 units listed with ListObjectsV2 (the AWS SDK loaded only for one). */
const inventory: StorageInventory = async (unit, prefix) => {
  if (unit.kind === 'disk') return listDiskObjects(unit.path, prefix);
  const { listS3Objects } = await import('#aws/s3-inventory.ts');
  return listS3Objects(unit, prefix);
};

/** The structural check of one copy (present, catalogued sizes; a tape copy's fragments against the media manager's volume records). */
function copyChecker(emm: MediaDatabase, open: StorageUnitOpener = openStorageUnit): CatalogCheckDeps['checkCopy'] {
  return async (image: Image, copy: ImageCopy, unit: StorageUnit) =>
    checkImageObjects(await open(unit), image, copy, async (backupId, location) => {
      // A volume that no longer lists the image is its own finding (volume-misses-image, listed again by a repair):
      // here only what makes the data unreadable counts (no such volume, a tape file past its append point).
      const media = await emm.getMedia(location.mediaId);
      return tapeFragmentProblem(media && { ...media, images: [...media.images, backupId] }, backupId, location);
    });
}

/**
 * The standalone runtime, opened WITHOUT its janitor (every other command
 * runs it first): the check reports what a crash left before anything
 * repairs it. A dead job is one whose owner process is gone (local/orphans.ts);
 * `--repair` ends it by running the janitor, which also releases what it held.
 */
export async function localCatalogCheck(globals: GlobalOptions): Promise<CatalogCheckRuntime> {
  const { openStandaloneRuntime } = await import('./backend.ts');
  const runtime = await openStandaloneRuntime(globals.home);
  return { jobs: runtime.jobs, owner: runtime.owner, clock: runtime.clock, close: () => runtime.close(), deps: localCatalogCheckDeps(runtime) };
}

/** The catalog check's ports on an open standalone runtime: `cairn catalog check`'s, and the tick's scheduled check's (`cairn local serve`). */
export function localCatalogCheckDeps(runtime: LocalRuntime): CatalogCheckDeps {
  return {
      catalog: runtime.catalog,
      config: runtime.config,
      jobs: runtime.jobs,
      media: runtime.media,
      emm: runtime.emm,
      inventory,
      openStorageUnit,
      checkCopy: copyChecker(runtime.emm),
      whyDead: async (job) => (isOrphanOwner(job.owner, runtime.owner) ? `the process that ran it (${job.owner ?? 'unknown'}) is gone` : undefined),
      endDeadJobs: async (jobIds) => {
        const { runJanitor } = await import('#local/janitor.ts');
        const report = await runJanitor(runtime);
        return {
          ended: report.endedJobs.filter((e) => jobIds.includes(e.jobId)),
          problems: report.problems,
          otherChanges: [
            ...report.endedJobs.filter((e) => !jobIds.includes(e.jobId)).map((e) => ({ subject: `job ${e.jobId}`, change: `ended by the janitor with status ${e.statusCode} (${e.reason})` })),
            ...report.withdrawnImages.map((w) => ({ subject: `image ${w.backupId}`, change: `withdrawn by the janitor (${w.reason})` })),
            ...report.removedClaims.map((c) => ({ subject: `claim ${c.backupId} of job ${c.jobId}`, change: `its staged data removed from ${c.storageUnit} by the janitor: ${c.objects} objects and ${c.incomplete} incomplete writes, ${c.bytes} bytes (${c.reason})` })),
          ],
        };
      },
      spared: () => holdersOfUnloads(runtime.emm),
  };
}

/**
 * The deployed stack: the DynamoDB stores, S3 units listed from here (a
 * disk unit is on an agent's host: it is reported as not listable). A dead
 * job is one quiet for the sweep's quiet time whose execution is not
 * RUNNING; `--repair` ends it as the scheduler's sweep does (sweepJobs).
 */
export async function awsCatalogCheck(globals: GlobalOptions): Promise<CatalogCheckRuntime> {
  const { createAwsClients } = await import('#aws/clients.ts');
  const { resolveDeployment, resolveRestoreStateMachineArn } = await import('#aws/deployment-outputs.ts');
  const { DynamoConfigStore } = await import('#aws/dynamo-config-store.ts');
  const { DynamoJobStore } = await import('#aws/dynamo-job-store.ts');
  const { DynamoCatalogStore } = await import('#aws/dynamo-catalog-store.ts');
  const { DynamoMediaStore } = await import('#aws/dynamo-media-store.ts');
  const { dynamoMediaDatabase } = await import('#aws/dynamo-media-manager.ts');
  const { SfnExecutionStatuses } = await import('#aws/sfn-execution-status.ts');
  const { systemClock } = await import('#lambdas/system-clock.ts');
  const { sweepJobs, SWEEP_QUIET_SECONDS } = await import('#core/jobs/execution-janitor.ts');
  const deployment = await resolveDeployment(globals);
  const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
  const client = clients.documents;
  const jobs = new DynamoJobStore({ client, tableName: deployment.jobsTable });
  const catalog = new DynamoCatalogStore({ client, tableName: deployment.catalogTable });
  const media = new DynamoMediaStore({ client, tableName: deployment.mediaTable });
  const emm = dynamoMediaDatabase({ client, tableName: deployment.mediaTable });
  const executions = new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn: deployment.stateMachineArn });
  // The restore-job state machine is looked up only when a restore job is open (a stack deployed before it had one still checks).
  let restoreLookup: Promise<ExecutionStatuses | undefined> | undefined;
  const restoreStatuses = () =>
    (restoreLookup ??= resolveRestoreStateMachineArn(globals).then(
      (stateMachineArn) => new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn }),
      () => undefined,
    ));
  const { listS3Objects } = await import('#aws/s3-inventory.ts');
  const { cloudStorageOpener } = await import('#aws/cloud-storage-opener.ts');
  const s3Opener = cloudStorageOpener(clients.s3);
  // S3 units (and a tape unit's S3 index) with this command's clients (its --endpoint); a disk unit is read where this runs.
  const opener: StorageUnitOpener = async (unit) => (unit.kind === 's3' || (unit.kind === 'tape' && unit.index.kind === 's3') ? s3Opener(unit) : openStorageUnit(unit));
  const cloudInventory: StorageInventory = async (unit, prefix) => (unit.kind === 'disk' ? inventory(unit, prefix) : listS3Objects(unit, prefix, clients.s3));
  const { cliOwner } = await import('./cli-owner.ts');
  return {
    jobs,
    owner: cliOwner(),
    clock: systemClock,
    close: () => clients.destroy(),
    deps: {
      catalog,
      config: new DynamoConfigStore({ client, tableName: deployment.configTable }),
      jobs,
      media,
      emm,
      inventory: cloudInventory,
      openStorageUnit: opener,
      checkCopy: copyChecker(emm, opener),
      whyDead: async (job) => {
        // As the sweep judges: a job updated lately is running (or the event janitor has it); a standalone job is not the stack's.
        if (job.executionName === undefined || (job.type === 'backup' && job.childJobIds !== undefined)) return undefined;
        if (systemClock.now().getTime() - Date.parse(job.updatedAt) < SWEEP_QUIET_SECONDS * 1000) return undefined;
        const statuses = job.type === 'restore' ? await restoreStatuses() : job.type === 'backup' ? executions : undefined;
        if (!statuses) return undefined;
        const state = await statuses.describe(job.executionName);
        if (state && (state.status === 'RUNNING' || state.status === 'PENDING_REDRIVE')) return undefined;
        return `its execution ${job.executionName} is ${state ? state.status : 'unknown to Step Functions'}`;
      },
      endDeadJobs: async (jobIds, now) => {
        const dead = (await Promise.all(jobIds.map((id) => jobs.get(id)))).filter((j) => j !== undefined);
        const restoreExecutions = dead.some((j) => j.type === 'restore') ? await restoreStatuses() : undefined;
        const report = await sweepJobs({ jobs, catalog, media, emm, executions, ...(restoreExecutions ? { restoreExecutions } : {}) }, dead, now, Math.max(1, dead.length));
        return {
          ended: report.ended.flatMap((a) => (a.jobId !== undefined && a.action === 'ended' ? [{ jobId: a.jobId, statusCode: a.statusCode ?? 0, reason: a.reason ?? '' }] : [])),
          problems: report.problems,
        };
      },
      spared: () => holdersOfUnloads(emm),
    },
  };
}
