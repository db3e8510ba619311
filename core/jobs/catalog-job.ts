import { z } from 'zod';
import { CairnError } from '../errors.ts';
import { runCatalogCheck, type CatalogCheckDeps } from '../catalog/catalog-check.ts';
import { CATALOG_CLIENT } from '../model/dr-file.ts';
import { Job } from '../model/job.ts';
import { IsoTime, Name } from '../model/names.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { Timer } from '../ports/clock.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import { runQueuedJob } from './lifecycle-job.ts';
import { catalogCheckFields, catalogCheckOutcome } from './lifecycle-outcomes.ts';

/**
 * What the scheduler starts a catalog-job execution with
 * (statemachines/catalog-job.asl.json; core/schedule/catalog-job-due.ts):
 * the kind, the policy whose schedule was due, what the schedule says, and
 * the due instant the execution is named after.
 */
export const CatalogJobRequest = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('catalog-backup'),
      policy: Name,
      storageUnit: Name,
      retentionDays: z.number().int().positive().optional(),
      dueAt: IsoTime,
      executionName: z.string().min(1).max(80),
    })
    .strict(),
  z
    .object({
      kind: z.literal('catalog-check'),
      policy: Name,
      repair: z.boolean(),
      graceSeconds: z.number().int().min(0),
      dueAt: IsoTime,
      executionName: z.string().min(1).max(80),
    })
    .strict(),
]);
export type CatalogJobRequest = z.output<typeof CatalogJobRequest>;

/** The Queue state's result: the job the Run and EndJob states act on. */
export interface CatalogJobRef {
  jobId: number;
  kind: CatalogJobRequest['kind'];
}

/**
 * The catalog-job Queue state: the job of the request recorded QUEUED with
 * the execution's name (the sweep and the janitor find it by that name on
 * the catalog-job state machine). Idempotent: a Queue retried after its
 * job was created answers with that job.
 */
export async function queueCatalogJob(jobs: JobStore, input: unknown, now: Date): Promise<CatalogJobRef> {
  const request = parseOrThrow(CatalogJobRequest, input, 'catalog job request', StatusCode.INVALID_COMMAND_USAGE);
  const existing = await jobs.findByExecution(request.executionName);
  if (existing !== undefined) {
    if (existing.type !== request.kind) throw new CairnError(StatusCode.INTERNAL_ERROR, `execution ${request.executionName} belongs to ${existing.type} job ${existing.jobId}, not to a ${request.kind} job`);
    return { jobId: existing.jobId, kind: request.kind };
  }
  const jobId = await jobs.nextJobId();
  const fields = request.kind === 'catalog-backup' ? { client: CATALOG_CLIENT, storageUnit: request.storageUnit, policy: request.policy } : catalogCheckFields(request.repair, request.policy);
  const at = now.toISOString();
  await jobs.create(parseOrThrow(Job, { ...fields, jobId, type: request.kind, state: 'QUEUED', executionName: request.executionName, queuedAt: at, updatedAt: at }, `${request.kind} job`, StatusCode.INTERNAL_ERROR));
  return { jobId, kind: request.kind };
}

/** What the catalog image writer made: the image, the DR file's place, the size of the catalog copy. */
export interface CatalogImageWritten {
  backupId: string;
  /** Where the DR file is: `s3://bucket/key`, next to the image on its unit. */
  drFile: string;
  catalogBytes: number;
}

/**
 * Writes the catalog image to `unit` (an S3 unit) and its DR file next to
 * it. `claimFor` is called with the image's id before it is claimed and
 * answers the job id to claim it for (the job records its image first, so
 * a killed run leaves a job that names its claim).
 */
export type CatalogImageWriter = (unit: StorageUnit, options: { retentionDays?: number; claimFor: (backupId: string) => Promise<number>; signal?: AbortSignal }) => Promise<CatalogImageWritten>;

export interface CatalogJobDeps {
  jobs: JobStore;
  config: Pick<ConfigStore, 'getStorageUnit'>;
  now: () => Date;
  /** Watches the running job's record for a cancel (core/jobs/lifecycle-job.ts): the work stops at its next safe point. */
  timer: Timer;
  /** The catalog check's ports where the job runs (S3 units listed, tape units through the media manager). */
  check: CatalogCheckDeps;
  writeCatalogImage: CatalogImageWriter;
}

/** What the Run state answers: the job's status (EndJob then finds it DONE and keeps it). */
export interface CatalogJobEnd {
  jobId: number;
  statusCode: number;
}

/**
 * The catalog-job Run state: the QUEUED job turns ACTIVE, the check or the
 * backup runs, and the job ends DONE with its fields (the check's findings
 * and repairs; the backup's image and DR file), as `runAsJob` ends the
 * standalone tick's. A failure ends the job with its status and is thrown
 * on: the execution's Failed path then finds it ended.
 */
export async function runCatalogJob(deps: CatalogJobDeps, jobId: number, input: unknown): Promise<CatalogJobEnd> {
  const request = parseOrThrow(CatalogJobRequest, input, 'catalog job request', StatusCode.INVALID_COMMAND_USAGE);
  if (request.kind === 'catalog-check') {
    const run = await runQueuedJob<'catalog-check', Awaited<ReturnType<typeof runCatalogCheck>>>(deps, jobId, (job) => runCatalogCheck(deps.check, deps.now(), { repair: request.repair, graceSeconds: request.graceSeconds, signal: job.signal }), catalogCheckOutcome);
    return { jobId, statusCode: run.statusCode };
  }
  const run = await runQueuedJob<'catalog-backup', CatalogImageWritten>(
    deps,
    jobId,
    async (job) => {
      const unit = await deps.config.getStorageUnit(request.storageUnit);
      if (unit === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${request.storageUnit} (policy ${request.policy}'s catalog backup) does not exist`);
      refuseUnreachableCatalogUnit(unit, request.policy);
      return deps.writeCatalogImage(unit, {
        ...(request.retentionDays === undefined ? {} : { retentionDays: request.retentionDays }),
        signal: job.signal,
        claimFor: async (backupId) => {
          // Recorded before the claim: the janitor then never sees a claim of this job it does not know the image of.
          await job.record({ image: backupId });
          return jobId;
        },
      });
    },
    (written) => ({ statusCode: StatusCode.SUCCESS, fields: { image: written.backupId, drFile: written.drFile }, progress: { files: 1, bytes: written.catalogBytes } }),
  );
  return { jobId, statusCode: run.statusCode };
}

/**
 * A cloud catalog backup goes to an S3 unit: a disk unit is a directory on
 * an agent's host, which the catalog-job Lambda cannot reach (219), and a
 * tape unit holds no catalog image (recovery reads it without a catalog).
 * `cairn --aws policy apply` refuses such a policy already
 * (core/policies/apply-policies.ts); this catches a unit changed since.
 */
export function refuseUnreachableCatalogUnit(unit: StorageUnit, policy: string): void {
  if (unit.kind === 's3') return;
  throw new CairnError(
    StatusCode.STORAGE_UNIT_UNAVAILABLE,
    unit.kind === 'disk'
      ? `storage unit ${unit.name} (policy ${policy}'s catalog backup) is a disk unit on an agent's host, which the cloud's catalog-job Lambda cannot reach: name an S3 unit in the policy's catalogBackup.storageUnit, or run \`cairn --aws catalog backup --storage-unit ${unit.name}\` where it is mounted`
      : `storage unit ${unit.name} (policy ${policy}'s catalog backup) is a tape unit: a catalog backup goes to an S3 unit, which recovery reads without a catalog`,
  );
}

/** Where the DR file of a catalog image goes on its S3 unit: next to the image, outside `images/` (so the catalog check never takes it for an orphan). */
export function drObjectKey(backupId: string): string {
  return `catalog-dr/${backupId}.dr.json`;
}
