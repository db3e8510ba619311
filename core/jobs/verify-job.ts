import { queuedVerifyJob } from './queued-verify-job.ts';
import { z } from 'zod';
import { primaryCopy } from '../model/image.ts';
import type { VerifyJob } from '../model/job.ts';
import { VerifyTaskResult, type VerifyCommand } from '../model/verify-task.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import { requireAgentInstance } from '../clients/agent-instance.ts';
import { IN_PROCESS_AGENT } from '../broker/broker.ts';
import { getJobOfKind, updateJobOfKind } from './job-of-kind.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import type { VerifyJobDeps, VerifyJobRef } from './verify-job-deps.ts';
import { RehearsalRequest, queueRehearsal, rehearsalCommand, rehearsalOutcome, recordRehearsal } from './rehearsal.ts';

/**
 * What starts a verify job (bpverify -backupid): one image; `policy`/`schedule` when a schedule queued it.
 * With `rehearsal` it is a restore rehearsal (rehearsal.ts): of `backupId`, or of the latest usable image of
 * `rehearsal.client` in `policy`; `sample` and `scratch` default to the policy's `rehearsal` schedule.
 */
export const VerifyRequest = z
  .object({
    backupId: z.string().min(1).optional(),
    policy: z.string().min(1).optional(),
    schedule: z.string().min(1).optional(),
    executionName: z.string().max(80).optional(),
    /** Who runs the job (for orphan detection in the standalone runtime). */
    owner: z.string().optional(),
    rehearsal: RehearsalRequest.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.rehearsal === undefined && r.backupId === undefined) ctx.addIssue({ code: 'custom', path: ['backupId'], message: 'a verify names its image (backupId)' });
    if (r.rehearsal !== undefined && r.backupId === undefined && (r.policy === undefined || r.rehearsal.client === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['rehearsal'], message: 'a rehearsal names its image (backupId), or a policy and rehearsal.client (the latest usable image)' });
    }
  });
export type VerifyRequest = z.input<typeof VerifyRequest>;

export type { VerifyJobDeps, VerifyJobRef } from './verify-job-deps.ts';

/** How many problems the job record keeps (the agent's result has the count). */
export const KEPT_PROBLEMS = 50;

/**
 * The Queue state: records a QUEUED verify job of an image's primary copy.
 * 227 for an image not in the catalog, 219 for a storage unit that no longer
 * exists. `tape` in the result sends an image on tape down the volume loop.
 */
export async function queueVerifyJob(deps: VerifyJobDeps, rawRequest: unknown, now: Date): Promise<VerifyJobRef> {
  const request = parseOrThrow(VerifyRequest, rawRequest, 'verify request');
  if (request.rehearsal !== undefined) return queueRehearsal(deps, request, request.rehearsal, now);
  const { image, unit } = await verifiedImage(deps, request.backupId!);
  const job = queuedVerifyJob(await deps.jobs.nextJobId(), now, {
    client: image.client,
    image: image.backupId,
    storageUnit: unit.name,
    ...(request.policy ? { policy: request.policy } : {}),
    ...(request.schedule ? { schedule: request.schedule } : {}),
    owner: request.owner,
    executionName: request.executionName,
  });
  await deps.jobs.create(job);
  return { jobId: job.jobId, client: job.client, backupId: image.backupId, tape: unit.kind === 'tape' };
}

/**
 * The Start state: the job turns ACTIVE and gets its Verify command and the
 * agent that runs it (the client's, which reaches the storage unit it wrote
 * to). Nothing is reserved: a verify of a disk or S3 copy takes no storage
 * unit slot, as a restore does not. A job that ended meanwhile (cancelled)
 * is refused with its status; a tape image's job reserves a drive per
 * volume instead (verify-tape.ts), so Start refuses it (20).
 */
export async function startVerifyJob(deps: VerifyJobDeps, jobId: number, now: Date): Promise<{ agentInstanceId: string; command: VerifyCommand }> {
  const job = await getJobOfKind(deps.jobs, jobId, 'verify');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before it started`);
  if (job.rehearsal !== undefined) return rehearsalCommand(deps, job, now);
  const { image, unit } = await verifiedImage(deps, job.image);
  if (unit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId}: image ${job.image} is on tape unit ${unit.name}; its volumes are verified one Read step at a time`);
  const agentInstanceId = deps.agents === 'managed-instances' ? await requireAgentInstance(deps.config, job.client, undefined) : IN_PROCESS_AGENT;
  const at = now.toISOString();
  await updateJobOfKind(deps.jobs, jobId, 'verify', (j) => ({ ...j, state: 'ACTIVE', waitingReason: undefined, startedAt: j.startedAt ?? at, updatedAt: at }), { expectedStates: ['QUEUED', 'ACTIVE'] });
  return { agentInstanceId, command: { kind: 'verify', task: { jobId, image, storageUnit: unit } } };
}

/**
 * The Record state: the result goes to the job (totals, problems) and
 * becomes the job's outcome for EndJob: status 0, or 2001 (corrupt image)
 * with the first bad member as the job's error.
 */
export async function recordVerifyResult(deps: Pick<VerifyJobDeps, 'jobs'>, jobId: number, rawResult: unknown, now: Date): Promise<{ statusCode: number } | { failure: { Error: string; Cause: string } }> {
  const result = parseOrThrow(VerifyTaskResult, rawResult, 'verify result', StatusCode.INTERNAL_ERROR);
  if ((await getJobOfKind(deps.jobs, jobId, 'verify')).rehearsal !== undefined) return rehearsalOutcome(await recordRehearsal(deps, jobId, result, now));
  const job = await updateJobOfKind(deps.jobs, jobId, 'verify', (j) => ({
    ...j,
    progress: { ...j.progress, files: result.members, bytes: result.bytes, currentPath: undefined },
    problems: result.problems.slice(0, KEPT_PROBLEMS),
    problemCount: result.problemCount,
    updatedAt: now.toISOString(),
  }));
  return verifyOutcome(job);
}

/** A verify job's outcome from what it recorded: status 0, or a Status2001 failure naming its first problem. */
export function verifyOutcome(job: Pick<VerifyJob, 'image' | 'problems' | 'problemCount'>): { statusCode: number } | { failure: { Error: string; Cause: string } } {
  if (job.problemCount === 0) return { statusCode: StatusCode.SUCCESS };
  const cause = `image ${job.image} is corrupt (${job.problemCount} problem${job.problemCount === 1 ? '' : 's'}): ${job.problems[0] ?? 'unknown problem'}`;
  return { failure: { Error: `Status${StatusCode.CORRUPT_IMAGE}`, Cause: cause } };
}

/** The image (227 when not in the catalog) and the unit of its primary copy (219 when it no longer exists). */
export async function verifiedImage(deps: { config: Pick<ConfigStore, 'getStorageUnit'>; catalog: Pick<CatalogStore, 'getImage'> }, backupId: string) {
  const image = await deps.catalog.getImage(backupId);
  if (!image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is not in the catalog`);
  const { storageUnit } = primaryCopy(image);
  const unit = await deps.config.getStorageUnit(storageUnit);
  if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${storageUnit} of image ${backupId} does not exist`);
  return { image, unit };
}
