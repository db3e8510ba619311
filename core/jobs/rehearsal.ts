import { queuedVerifyJob } from './queued-verify-job.ts';
import { z } from 'zod';
import { isBrokenCopy, usableImage, type Image, type ImageCopy } from '../model/image.ts';
import type { VerifyJob } from '../model/job.ts';
import { Name } from '../model/names.ts';
import { DEFAULT_REHEARSAL_SAMPLE, RehearsalSample, ScratchDirectory, type Policy } from '../model/policy.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { VerifyCommand, VerifyTaskResult } from '../model/verify-task.ts';
import { sameSelections } from '../model/selection.ts';
import { pointInTimeImages } from '../catalog/point-in-time.ts';
import { requireAgentInstance } from '../clients/agent-instance.ts';
import { IN_PROCESS_AGENT } from '../broker/broker.ts';
import { CairnError, NotFoundError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { updateJobOfKind } from './job-of-kind.ts';
import type { VerifyJobDeps, VerifyJobRef } from './verify-job-deps.ts';

/*
 * Restore rehearsals: a verify-kind job (the same verify-job.asl.json,
 * verify Lambda, janitor and sweep) whose Verify step restores a sample of
 * the client's latest point-in-time view into a scratch directory on the
 * client with the real restore code, compares each restored file with its
 * index line, and removes the directory (edge-agent/rehearsal/). The job
 * record carries `rehearsal` (core/model/job.ts RehearsalRecord); its
 * mismatches are the verify job's `problems`.
 */

/** The rehearsal part of a verify request (`cairn rehearse`, or a policy's `rehearsal` schedule). */
export const RehearsalRequest = z
  .object({
    /** With the request's `policy` and no `backupId`: the client whose latest usable image is rehearsed. */
    client: Name.optional(),
    sample: RehearsalSample.optional(),
    scratch: ScratchDirectory.optional(),
  })
  .strict();
export type RehearsalRequest = z.output<typeof RehearsalRequest>;

/** How many mismatches the job record keeps (the count is whole). */
const KEPT_MISMATCHES = 50;

/**
 * The Queue state of a rehearsal: the images to restore (`backupId`, or the
 * point-in-time view of the client's newest usable image of the policy, one
 * image per stream of a multiple-data-streams policy), the sample and
 * scratch (the request's, else the policy's), and a QUEUED verify job with
 * `rehearsal`. 227 for no usable image, 230 for an unknown policy, 48 for a
 * client the policy does not list. The storage unit recorded is that of the
 * copy a restore would read (the first usable copy not on tape).
 */
export async function queueRehearsal(deps: VerifyJobDeps, request: { backupId?: string; policy?: string; schedule?: string; executionName?: string; owner?: string }, rehearsal: RehearsalRequest, now: Date): Promise<VerifyJobRef> {
  const policy = request.policy === undefined ? undefined : await deps.config.getPolicy(request.policy);
  if (request.policy !== undefined && policy === undefined) throw new NotFoundError('policy', request.policy);
  const images = request.backupId !== undefined ? [await rehearsableImage(deps, request.backupId, rehearsal.client, policy)] : await latestView(deps, policy!, rehearsal.client!, now);
  const image = images[0]!;
  const copy = restoreCopy(image) ?? image.copies[0]!;
  const sample = rehearsal.sample ?? policy?.rehearsal?.sample ?? DEFAULT_REHEARSAL_SAMPLE;
  const scratch = rehearsal.scratch ?? policy?.rehearsal?.scratch;
  const job = queuedVerifyJob(await deps.jobs.nextJobId(), now, {
    client: image.client,
    image: image.backupId,
    storageUnit: copy.storageUnit,
    // A rehearsal is always of a policy's image: the chain it follows is that policy's.
    policy: request.policy ?? image.policy,
    ...(request.schedule ? { schedule: request.schedule } : {}),
    owner: request.owner,
    executionName: request.executionName,
    rehearsal: { sample, ...(scratch === undefined ? {} : { scratch }), images: images.map((i) => i.backupId) },
  });
  await deps.jobs.create(job);
  // Never the tape volume loop: Start refuses an image only on tape, with the reason.
  return { jobId: job.jobId, client: job.client, backupId: image.backupId, tape: false };
}

/**
 * The Start state of a rehearsal: the job turns ACTIVE and gets its Verify
 * command: the final images (read again: one expired meanwhile is 227),
 * the earlier images an incremental's unchanged files may be in, and the
 * disk and S3 units their copies are on. An image whose every usable copy
 * is on tape is rehearsed from tape where the runtime runs the agent in
 * process and holds the robot (standalone: the agent reserves a drive
 * under the job, edge-agent/rehearsal/tape-reader.ts), its tape unit given
 * with the others; with managed-instance agents (the cloud) it is refused
 * (20) with the reason (docs/architecture.md, What is not built yet).
 */
export async function rehearsalCommand(deps: VerifyJobDeps, job: VerifyJob, now: Date): Promise<{ agentInstanceId: string; command: VerifyCommand }> {
  const rehearsal = job.rehearsal!;
  const finals: Image[] = [];
  for (const backupId of rehearsal.images.length > 0 ? rehearsal.images : [job.image]) {
    const image = await deps.catalog.getImage(backupId);
    if (!image || image.state !== 'ACTIVE') throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} ${image ? `is being expired (${image.state})` : 'is no longer in the catalog'}: job ${job.jobId} cannot rehearse its restore`);
    const usable = image.copies.filter((c) => !isBrokenCopy(image, c.copyNumber));
    if (restoreCopy(image) === undefined && (tapeCopy(image) === undefined || deps.agents === 'managed-instances')) {
      const where = usable.length > 0 ? `only on tape (storage unit ${[...new Set(usable.map((c) => c.storageUnit))].join(', ')})` : 'on no usable copy (every copy is marked broken)';
      const why =
        usable.length > 0
          ? 'a rehearsal in the cloud restores from a disk or S3 copy: rehearsing from tape runs in the standalone runtime only (cairn rehearse without --aws, on the host of the robot), since the cloud path of the verify job has no drive reservation for a rehearsal'
          : 'there is nothing to restore from';
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${backupId} of client ${image.client} is ${where}: ${why} (duplicate the image to a disk or S3 unit, or verify it with cairn verify)`);
    }
    finals.push(image);
  }
  const earlier = await chainOf(deps, finals, job.policy);
  // Tape units are given only where the agent can reserve a drive (in process): a managed agent gets none.
  const units = await unitsOf(deps, [...finals, ...earlier], deps.agents !== 'managed-instances');
  const readCopy = restoreCopy(finals[0]!) ?? tapeCopy(finals[0]!)!;
  const unit = units.find((u) => u.name === readCopy.storageUnit);
  if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${readCopy.storageUnit} of image ${finals[0]!.backupId} does not exist`);
  const agentInstanceId = deps.agents === 'managed-instances' ? await requireAgentInstance(deps.config, job.client, undefined) : IN_PROCESS_AGENT;
  const at = now.toISOString();
  await updateJobOfKind(deps.jobs, job.jobId, 'verify', (j) => ({ ...j, state: 'ACTIVE', waitingReason: undefined, startedAt: j.startedAt ?? at, updatedAt: at }), { expectedStates: ['QUEUED', 'ACTIVE'] });
  return {
    agentInstanceId,
    command: {
      kind: 'verify',
      task: {
        jobId: job.jobId,
        image: finals[0]!,
        storageUnit: unit,
        rehearsal: {
          sample: rehearsal.sample,
          seed: String(job.jobId),
          ...(rehearsal.scratch === undefined ? {} : { scratch: rehearsal.scratch }),
          ...(job.policy === undefined ? {} : { policy: job.policy }),
          others: finals.slice(1),
          earlier,
          units,
        },
      },
    },
  };
}

/** The Record state of a rehearsal: what the agent found goes to the job (files checked as its progress, so `cairn jobs` and the report show them). */
export async function recordRehearsal(deps: Pick<VerifyJobDeps, 'jobs'>, jobId: number, result: VerifyTaskResult, now: Date): Promise<{ job: VerifyJob; restoreFailure?: { statusCode: number; message: string } }> {
  const found = result.rehearsal;
  if (found === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${jobId} is a rehearsal, but the agent answered with a plain verify result: the agent predates rehearsals`);
  const job = await updateJobOfKind(deps.jobs, jobId, 'verify', (j) => ({
    ...j,
    progress: { ...j.progress, files: found.filesChecked, bytes: result.bytes, currentPath: undefined },
    problems: result.problems.slice(0, KEPT_MISMATCHES),
    problemCount: result.problemCount,
    rehearsal: {
      ...j.rehearsal!,
      restoredFrom: found.restoredFrom,
      sampleSize: found.sampleSize,
      filesChecked: found.filesChecked,
      bytes: result.bytes,
      scratchPath: found.scratchPath,
      scratchDeleted: found.scratchDeleted,
      ...(found.scratchProblem === undefined ? {} : { scratchProblem: found.scratchProblem }),
    },
    updatedAt: now.toISOString(),
  }));
  return { job, ...(found.restoreFailure ? { restoreFailure: found.restoreFailure } : {}) };
}

/**
 * A rehearsal's outcome: the restore's own status when the restore failed
 * (2001 naming the file a corrupt image broke on, 85 for a store that
 * cannot be read, ...); 2001 naming the first file that does not match its
 * index line; 1 when every file matched but the scratch directory could not
 * be removed (what remains is named); else 0.
 */
export function rehearsalOutcome({ job, restoreFailure }: { job: VerifyJob; restoreFailure?: { statusCode: number; message: string } }): { statusCode: number } | { failure: { Error: string; Cause: string } } {
  const what = `rehearsal of image ${job.image}`;
  const leftover = job.rehearsal?.scratchDeleted === false ? `; the scratch directory ${job.rehearsal.scratchPath} could not be removed: ${job.rehearsal.scratchProblem ?? 'unknown reason'}` : '';
  if (restoreFailure) return { failure: { Error: `Status${restoreFailure.statusCode}`, Cause: `${what}: the restore failed: ${restoreFailure.message}${leftover}` } };
  if (job.problemCount > 0) {
    const checked = job.rehearsal?.filesChecked ?? 0;
    return { failure: { Error: `Status${StatusCode.CORRUPT_IMAGE}`, Cause: `${what}: ${job.problemCount} of ${checked} file(s) restored do not match the index: ${job.problems[0] ?? 'unknown file'}${leftover}` } };
  }
  if (leftover !== '') return { failure: { Error: `Status${StatusCode.PARTIAL_SUCCESS}`, Cause: `${what}: every file matched${leftover}` } };
  return { statusCode: StatusCode.SUCCESS };
}

/** The copy a restore reads first: the first (primary first) that is neither marked broken nor on tape. */
export function restoreCopy(image: Image): ImageCopy | undefined {
  return image.copies.find((c) => !isBrokenCopy(image, c.copyNumber) && !c.fragments.some((f) => f.location.kind === 'tape'));
}

async function rehearsableImage(deps: VerifyJobDeps, backupId: string, client: string | undefined, policy: Policy | undefined): Promise<Image> {
  const image = await deps.catalog.getImage(backupId);
  if (!image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is not in the catalog`);
  if (image.state !== 'ACTIVE') throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is being expired (${image.state}): it cannot be rehearsed`);
  if (!usableImage(image)) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is marked broken by the catalog check: it cannot be rehearsed`);
  if (client !== undefined && image.client !== client) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${backupId} is of client ${image.client}, not ${client}`);
  if (policy !== undefined && image.policy !== policy.name) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${backupId} is of policy ${image.policy}, not ${policy.name}`);
  return image;
}

/** The point-in-time view of the client's newest usable image of the policy (core/catalog/point-in-time.ts). */
async function latestView(deps: VerifyJobDeps, policy: Policy, client: string, now: Date): Promise<Image[]> {
  if (!policy.clients.some((c) => c.name === client)) throw new CairnError(StatusCode.CLIENT_NOT_FOUND, `client ${client} is not a client of policy ${policy.name}`);
  const view = pointInTimeImages(await deps.catalog.listImages({ client, policy: policy.name, to: now }));
  if (!view) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `client ${client} has no usable image of policy ${policy.name} to rehearse`);
  return view.images;
}

/**
 * The images an incremental's unchanged files may point at: for each final
 * image, the older successful images of the client (and policy) with the
 * same selections, newest first, down to and including the newest full one
 * (a full holds every file: nothing after it points past it). The agent
 * still checks every earlier image it follows (point-in-time.ts chainRefusal).
 */
async function chainOf(deps: VerifyJobDeps, finals: readonly Image[], policy: string | undefined): Promise<Image[]> {
  const client = finals[0]!.client;
  const newest = finals.reduce((a, b) => (a.createdAt > b.createdAt ? a : b));
  const all = (await deps.catalog.listImages({ client, ...(policy === undefined ? {} : { policy }), to: new Date(newest.createdAt) }))
    .filter((i) => i.state === 'ACTIVE' && i.statusCode <= 1 && usableImage(i) && !finals.some((f) => f.backupId === i.backupId))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const chain = new Map<string, Image>();
  for (const final of finals) {
    if (final.level === 'full') continue;
    for (const image of all) {
      if (!(image.createdAt < final.createdAt)) continue;
      if (final.selections !== undefined && (image.selections === undefined || !sameSelections(image.selections, final.selections))) continue;
      chain.set(image.backupId, image);
      if (image.level === 'full') break;
    }
  }
  return [...chain.values()];
}

/** The disk and S3 units the images' copies are on, and with `tape` their tape units (a unit that no longer exists is left out: the agent names it when it needs it). */
async function unitsOf(deps: VerifyJobDeps, images: readonly Image[], tape: boolean): Promise<StorageUnit[]> {
  const names = new Set(images.flatMap((i) => i.copies.filter((c) => tape || !c.fragments.some((f) => f.location.kind === 'tape')).map((c) => c.storageUnit)));
  const units: StorageUnit[] = [];
  for (const name of names) {
    const unit = await deps.config.getStorageUnit(name);
    if (unit && (tape || unit.kind !== 'tape')) units.push(unit);
  }
  return units;
}

/** The first tape copy not marked broken: what a rehearsal restores from when no disk or S3 copy can be read. */
function tapeCopy(image: Image): ImageCopy | undefined {
  return image.copies.find((c) => !isBrokenCopy(image, c.copyNumber) && c.fragments.some((f) => f.location.kind === 'tape'));
}
