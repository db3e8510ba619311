import { z } from 'zod';
import { addCopy, duplicateRefusal, nextCopyNumber, sourceCopy } from '../catalog/image-copies.ts';
import type { DuplicateJob } from '../model/job.ts';
import type { Image } from '../model/image.ts';
import { IsoTime, Name } from '../model/names.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import { DuplicateTaskResult, type DuplicateCommand } from '../model/duplicate-task.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import { requireAgentInstance } from '../clients/agent-instance.ts';
import { IN_PROCESS_AGENT } from '../broker/broker.ts';
import { getJobOfKind, updateJobOfKind } from './job-of-kind.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';

/*
 * The duplicate job as a workflow (statemachines/duplicate-job.asl.json,
 * bpduplicate run by nbjm): Queue records the job, Start hands the client's
 * agent its `duplicate` command, the agent writes and reads back the copy
 * (edge-agent/duplicate/duplicate-task.ts), and Record catalogues what it
 * wrote in one compare-and-set. Data first, catalog last, as `cairn
 * duplicate` in one process does (edge-agent/duplicate/duplicate-image.ts).
 */

/** What starts a duplicate job: one image's copy (the primary unless `fromCopy`) to `to`; `policy` when a policy's `copies` declared it. */
export const DuplicateJobRequest = z
  .object({
    backupId: z.string().min(1),
    to: Name,
    fromCopy: z.number().int().positive().optional(),
    /** The new copy's own retention end; absent: it follows the image's. */
    expiresAt: IsoTime.optional(),
    policy: Name.optional(),
    executionName: z.string().max(80).optional(),
    /** Who runs the job (for orphan detection in the standalone runtime). */
    owner: z.string().optional(),
  })
  .strict();
export type DuplicateJobRequest = z.input<typeof DuplicateJobRequest>;

/** What the duplicate-job state machine carries from state to state. */
export interface DuplicateJobRef {
  jobId: number;
  client: string;
  backupId: string;
}

export interface DuplicateJobDeps {
  config: ConfigStore;
  jobs: JobStore;
  catalog: Pick<CatalogStore, 'getImage' | 'updateImage'>;
  /** `managed-instances` (AWS): the Copy step goes to the client's agent; otherwise to the agent in this process. */
  agents?: 'in-process' | 'managed-instances';
}

/** The job's outcome for EndJob. */
export type DuplicateOutcome = { statusCode: number } | { failure: { Error: string; Cause: string } };

/**
 * The Queue state: records a QUEUED duplicate job. Refused before any job
 * exists: an image not in the catalog (227), a target unit or source
 * copy's unit that does not exist (219), a source copy the image does not
 * have (20), and what `duplicateRefusal` refuses (20: an image being
 * expired, a unit that holds a copy already or shares its object root);
 * a tape source or target too (20): this job reserves no drive yet.
 */
export async function queueDuplicateJob(deps: DuplicateJobDeps, rawRequest: unknown, now: Date): Promise<DuplicateJobRef> {
  const request = parseOrThrow(DuplicateJobRequest, rawRequest, 'duplicate request');
  const { image, from, fromUnit, target } = await duplicable(deps, request.backupId, request.to, request.fromCopy);
  const at = now.toISOString();
  const job: DuplicateJob = {
    jobId: await deps.jobs.nextJobId(),
    type: 'duplicate',
    state: 'QUEUED',
    attempt: 1,
    client: image.client,
    image: image.backupId,
    storageUnit: target.name,
    fromCopy: from.copyNumber,
    fromStorageUnit: fromUnit.name,
    ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    ...(request.policy === undefined ? {} : { policy: request.policy }),
    ...(request.owner === undefined ? {} : { owner: request.owner }),
    ...(request.executionName === undefined ? {} : { executionName: request.executionName }),
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    queuedAt: at,
    updatedAt: at,
  };
  await deps.jobs.create(job);
  return { jobId: job.jobId, client: job.client, backupId: image.backupId };
}

/**
 * The Start state: the job turns ACTIVE and gets its Copy command and the
 * agent that runs it (the client's, which reaches the units it wrote to, as
 * a verify's). The image is read again and the refusals checked again: a
 * copy catalogued or an expiration begun since Queue refuses (20). The new
 * copy's number is the image's next; one taken meanwhile by another
 * duplicate is found at Record. A job that ended meanwhile (cancelled) is
 * refused with its status.
 */
export async function startDuplicateJob(deps: DuplicateJobDeps, jobId: number, now: Date): Promise<{ agentInstanceId: string; command: DuplicateCommand }> {
  const job = await getJobOfKind(deps.jobs, jobId, 'duplicate');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before it started`);
  const { image, from, fromUnit, target } = await duplicable(deps, job.image, job.storageUnit, job.fromCopy);
  const agentInstanceId = deps.agents === 'managed-instances' ? await requireAgentInstance(deps.config, job.client, undefined) : IN_PROCESS_AGENT;
  const at = now.toISOString();
  await updateJobOfKind(deps.jobs, jobId, 'duplicate', (j) => ({ ...j, state: 'ACTIVE', waitingReason: undefined, startedAt: j.startedAt ?? at, updatedAt: at }), { expectedStates: ['QUEUED', 'ACTIVE'] });
  const task = {
    jobId,
    image,
    fromCopy: from.copyNumber,
    fromStorageUnit: fromUnit,
    storageUnit: target,
    copyNumber: nextCopyNumber(image),
    ...(job.expiresAt === undefined ? {} : { expiresAt: job.expiresAt }),
  };
  return { agentInstanceId, command: { kind: 'duplicate', task } };
}

/**
 * The Record state: the copy the agent wrote and read back is added to the
 * image record in one compare-and-set (`addCopy`), and the job gets the
 * copy's number and figures. The outcome is status 0, also when another
 * run catalogued a copy on that unit first (`alreadyPresent`: nothing is
 * catalogued). A Status20 failure when the image began expiring meanwhile,
 * and a Status2005 failure when another duplicate took the copy number
 * (the manifest written names it; the next run writes the copy again):
 * in both nothing is catalogued. A job that ended meanwhile (cancelled) is
 * given no copy either: its own status stands.
 */
export async function recordDuplicateCopy(deps: Pick<DuplicateJobDeps, 'jobs' | 'catalog'>, jobId: number, rawResult: unknown, now: Date): Promise<DuplicateOutcome> {
  const result = parseOrThrow(DuplicateTaskResult, rawResult, 'duplicate result', StatusCode.INTERNAL_ERROR);
  const job = await getJobOfKind(deps.jobs, jobId, 'duplicate');
  if (result.copy.storageUnit !== job.storageUnit) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${jobId} copies to ${job.storageUnit}, the agent answered with a copy on ${result.copy.storageUnit}`);
  const failure = (status: number, cause: string): DuplicateOutcome => ({ failure: { Error: `Status${status}`, Cause: cause } });
  // A job ended meanwhile (`cairn jobs cancel` after the agent's last report) is not given a copy: what it wrote stays uncatalogued, as after any failure.
  if (job.state === 'DONE') return failure(job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR, `job ${jobId} ended (status ${job.statusCode}) before its copy was catalogued: copy ${result.copy.copyNumber} on ${job.storageUnit} is not catalogued`);
  let outcome: ReturnType<typeof addCopy> | undefined;
  const stored = await deps.catalog.updateImage(job.image, (current) => {
    outcome = addCopy(current, result.copy);
    return outcome.kind === 'added' ? outcome.image : undefined;
  });
  if (!stored || !outcome) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${job.image} left the catalog while it was being duplicated: copy ${result.copy.copyNumber} on ${job.storageUnit} is not catalogued`);
  if (outcome.kind === 'refused') return failure(StatusCode.INVALID_COMMAND_USAGE, outcome.reason);
  if (outcome.kind === 'renumber') {
    return failure(StatusCode.CONFLICT, `image ${job.image}: copy number ${result.copy.copyNumber} was taken by another duplicate while this copy was written; copy ${result.copy.copyNumber} on ${job.storageUnit} is not catalogued (the next run writes it again)`);
  }
  const copyNumber = outcome.kind === 'added' ? result.copy.copyNumber : outcome.copy.copyNumber;
  await updateJobOfKind(deps.jobs, jobId, 'duplicate', (j) => ({
    ...j,
    copyNumber,
    ...(outcome!.kind === 'present' ? { alreadyPresent: true } : {}),
    progress: { ...j.progress, files: result.objects, bytes: result.bytes, currentPath: undefined },
    updatedAt: now.toISOString(),
  }));
  return { statusCode: StatusCode.SUCCESS };
}

/** The image, the copy read and its unit, and the target unit, or the refusal (see queueDuplicateJob). */
async function duplicable(deps: Pick<DuplicateJobDeps, 'config' | 'catalog'>, backupId: string, to: string, fromCopy: number | undefined): Promise<{ image: Image; from: Image['copies'][number]; fromUnit: StorageUnit; target: StorageUnit }> {
  const image = await deps.catalog.getImage(backupId);
  if (!image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is not in the catalog`);
  const target = await deps.config.getStorageUnit(to);
  if (!target) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${to} does not exist`);
  const from = sourceCopy(image, fromCopy);
  if (!from) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} has no copy ${fromCopy} (its copies: ${image.copies.map((c) => c.copyNumber).join(', ')})`);
  const units = new Map<string, StorageUnit | undefined>();
  for (const copy of image.copies) units.set(copy.storageUnit, await deps.config.getStorageUnit(copy.storageUnit));
  const refusal = duplicateRefusal(image, target, units);
  if (refusal) throw refusal;
  const fromUnit = units.get(from.storageUnit);
  if (!fromUnit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `copy ${from.copyNumber} of image ${image.backupId} is on storage unit ${from.storageUnit}, which does not exist`);
  for (const unit of [fromUnit, target]) {
    if (unit.kind === 'tape') {
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${unit.name} is a tape unit: the cloud duplicate job does not reserve drives yet (duplicate ${unit === target ? 'to' : 'from'} it with cairn duplicate on the robot's host, or give a disk or S3 unit)`);
    }
  }
  return { image, from, fromUnit, target };
}
