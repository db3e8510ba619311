import { z } from 'zod';
import { copyOf, isBrokenCopy, primaryCopy, usableImage, type Image } from '../model/image.ts';
import { Name } from '../model/names.ts';
import { RestoreTaskResult } from '../model/agent-command.ts';
import type { RestoreJob, RestoreVolume } from '../model/job.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { RestorePlanner } from '../ports/restore-planner.ts';
import { getJobOfKind, updateJobOfKind } from './job-of-kind.ts';
import { CairnError, messageOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import { failureMessage, statusFromFailure } from './job-service.ts';

/**
 * What starts a restore job (bprestore of an image on tape): the image, the
 * paths (all when empty), and the target directory on a client (the image's
 * own client unless redirected).
 */
export const RestoreRequest = z
  .object({
    backupId: z.string().min(1),
    paths: z.array(z.string().min(1)).default([]),
    targetDir: z.string().startsWith('/', 'the target directory is an absolute path'),
    targetClient: Name.optional(),
    existing: z.enum(['refuse', 'overwrite', 'rename']).default('refuse'),
    continueOnError: z.boolean().default(false),
    executionName: z.string().max(80).optional(),
    /** Who runs the job (for orphan detection in the standalone runtime). */
    owner: z.string().optional(),
    /** The copy read (bprestore -copy): a copy on tape; absent, the primary. `cairn restore` names another when the one it tried failed. */
    copyNumber: z.number().int().positive().optional(),
  })
  .strict();
export type RestoreRequest = z.input<typeof RestoreRequest>;

/** What the restore-job state machine carries from state to state. */
export interface RestoreJobRef {
  jobId: number;
  client: string;
  backupId: string;
}

export interface RestoreJobDeps {
  config: ConfigStore;
  jobs: JobStore;
  catalog: Pick<CatalogStore, 'getImage'>;
}

/**
 * The restore's image and the tape unit its primary copy (or copy
 * `copyNumber`) is on; 227 / 219 / 20 otherwise. With `copyNumber` the image
 * comes back holding that copy alone, so everything downstream (the plan,
 * the agent's Read) reads it as the primary: a valid record (one copy), only
 * ever read, never written back.
 */
export async function tapeImageOf(deps: RestoreJobDeps, backupId: string, copyNumber?: number): Promise<{ image: Image; storageUnit: string }> {
  const image = await deps.catalog.getImage(backupId);
  if (!image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is not in the catalog`);
  if (image.state !== 'ACTIVE') throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is being expired (${image.state}): it cannot be restored`);
  if (!usableImage(image)) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is marked broken by the catalog check (${image.broken?.reasons[0] ?? 'its data is missing'}): it cannot be restored`);
  // Restores read the primary copy, as bprestore does without -copy.
  const copy = copyNumber === undefined ? primaryCopy(image) : copyOf(image, copyNumber);
  if (!copy) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} has no copy ${copyNumber} (its copies: ${image.copies.map((c) => c.copyNumber).join(', ')})`);
  const { storageUnit } = copy;
  const unit = await deps.config.getStorageUnit(storageUnit);
  if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${storageUnit} of image ${backupId} does not exist`);
  if (unit.kind !== 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${backupId} is on ${unit.kind} unit ${unit.name}: a restore job reads tape images; \`cairn restore\` restores it in its own process`);
  return { image: copyNumber === undefined ? image : { ...image, copies: [copy] }, storageUnit };
}

/** Statuses a restore from one copy ends with that another copy may make good: the copy's data (2001), its media (84, 85, 86, 96) or its unit (219) failed. */
export const COPY_FAILURES: ReadonlySet<number> = new Set([
  StatusCode.CORRUPT_IMAGE,
  StatusCode.MEDIA_WRITE_ERROR,
  StatusCode.MEDIA_READ_ERROR,
  StatusCode.MEDIA_POSITION_ERROR,
  StatusCode.UNABLE_TO_ALLOCATE_MEDIA,
  StatusCode.STORAGE_UNIT_UNAVAILABLE,
]);

/** The copies after the primary on tape units, not marked broken, in copy order: where a restore job of the primary falls back to. */
async function laterTapeCopies(deps: RestoreJobDeps, image: Image): Promise<number[]> {
  const primary = primaryCopy(image).copyNumber;
  const later: number[] = [];
  for (const copy of [...image.copies].sort((a, b) => a.copyNumber - b.copyNumber)) {
    if (copy.copyNumber === primary || isBrokenCopy(image, copy.copyNumber)) continue;
    if ((await deps.config.getStorageUnit(copy.storageUnit))?.kind === 'tape') later.push(copy.copyNumber);
  }
  return later;
}

/**
 * Records a QUEUED restore job for an image on tape (the Queue state). A
 * restore of the primary (no `copyNumber`) may fall back to the image's
 * later copies on tape (`fallbackCopies`); one of a named copy reads that
 * copy alone (bprestore -copy; `cairn restore` walks the copies itself).
 */
export async function queueRestoreJob(deps: RestoreJobDeps, rawRequest: unknown, now: Date): Promise<RestoreJobRef> {
  const request = parseOrThrow(RestoreRequest, rawRequest, 'restore request');
  const { image, storageUnit } = await tapeImageOf(deps, request.backupId, request.copyNumber);
  const fallbackCopies = request.copyNumber === undefined ? await laterTapeCopies(deps, image) : [];
  const jobId = await deps.jobs.nextJobId();
  const at = now.toISOString();
  const job: RestoreJob = {
    jobId,
    type: 'restore',
    state: 'QUEUED',
    attempt: 1,
    client: image.client,
    source: { backupId: image.backupId },
    target: { client: request.targetClient ?? image.client, directory: request.targetDir, existing: request.existing },
    paths: request.paths,
    continueOnError: request.continueOnError,
    storageUnit,
    ...(request.copyNumber === undefined ? {} : { copyNumber: request.copyNumber }),
    ...(fallbackCopies.length > 0 ? { fallbackCopies } : {}),
    volumes: [],
    notRestored: [],
    waitingReason: 'waiting for resources',
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    owner: request.owner,
    executionName: request.executionName,
    queuedAt: at,
    updatedAt: at,
  };
  await deps.jobs.create(job);
  return { jobId, client: job.client, backupId: image.backupId };
}

/**
 * The volumes a tape image's primary copy is on, in the order its fragments
 * come (a spanning image's fragments run from one volume to the next), each
 * with its fragments. Pure. A fragment that is not on tape is 219, naming it.
 */
export function volumesOf(image: Image): RestoreVolume[] {
  const volumes: RestoreVolume[] = [];
  const copy = primaryCopy(image);
  for (const fragment of [...copy.fragments].sort((a, b) => a.number - b.number)) {
    const { location } = fragment;
    if (location.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `fragment ${fragment.number} of image ${image.backupId} is not on tape (${location.key})`);
    const last = volumes.at(-1);
    if (last?.mediaId === location.mediaId) last.fragments.push(fragment.number);
    else volumes.push({ mediaId: location.mediaId, fragments: [fragment.number], read: false });
  }
  return volumes;
}

/**
 * The Plan state: which volumes to mount, in order, from the image's
 * fragments in the catalog, recorded on the job (`cairn jobs show` lists
 * them). With a planner (the standalone runtime: the agent's restore plan
 * on the image's index) only the volumes holding fragments the restore
 * reads, each with those fragments, and a path that matches nothing fails
 * here (227) before anything is mounted; without one, every volume of the
 * image. The agent's Read of each volume reads only the fragments that
 * hold selected paths, so a single-file restore reads one fragment.
 */
export async function planRestoreJob(deps: RestoreJobDeps & { planner?: RestorePlanner }, jobId: number, now: Date): Promise<{ count: number; volumes: string[] }> {
  const job = await getJobOfKind(deps.jobs, jobId, 'restore');
  if (!('backupId' in job.source)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId} restores a point in time; a restore job reads one tape image`);
  const { image, storageUnit } = await tapeImageOf(deps, job.source.backupId, job.copyNumber);
  let volumes = volumesOf(image);
  // A whole-image restore reads every fragment: no index pass needed to know it.
  const unit = deps.planner && job.paths.length > 0 ? await deps.config.getStorageUnit(storageUnit) : undefined;
  if (deps.planner && unit) {
    // Only the volumes holding fragments the restore reads: a single file on the third volume mounts that one.
    const needed = await deps.planner.fragmentsFor(image, unit, job.paths);
    const kept = volumes.flatMap((v) => {
      const fragments = v.fragments.filter((f) => needed.has(f));
      return fragments.length > 0 ? [{ ...v, fragments }] : [];
    });
    // Nothing to read (every selected entry's data is elsewhere): the first volume still runs the Read, which reports it.
    volumes = kept.length > 0 ? kept : volumes.slice(0, 1);
  }
  if (volumes.length === 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} lists no fragment to read`);
  await updateJobOfKind(deps.jobs, jobId, 'restore', (j) => ({ ...j, volumes, updatedAt: now.toISOString() }));
  return { count: volumes.length, volumes: volumes.map((v) => v.mediaId) };
}

/** How many refused or failed members the job record keeps, for the operator (the agent's result has them all). */
const KEPT_PROBLEMS = 50;

/**
 * After a volume's Read: its totals are added to the job's progress, the
 * volume marked read, and the status so far returned (1 once any member was
 * refused or not restored). Idempotent for a volume already marked read. A
 * job that ended meanwhile (cancelled) is refused with its status.
 */
export async function recordVolumeRead(deps: Pick<RestoreJobDeps, 'jobs'>, jobId: number, volume: number, rawResult: unknown, now: Date): Promise<{ statusCode: number }> {
  const result = parseOrThrow(RestoreTaskResult, rawResult, 'restore result', StatusCode.INTERNAL_ERROR);
  const current = await getJobOfKind(deps.jobs, jobId, 'restore');
  // Cancelled while the volume was read: the job keeps the status it ended with and goes on to no other volume.
  if (current.state === 'DONE') throw new CairnError((current.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended (status ${current.statusCode}) while volume ${volume + 1} was read`);
  const job = await updateJobOfKind(deps.jobs, jobId, 'restore', (j) => {
    const current = j.volumes[volume];
    if (current === undefined || current.read) return j;
    const problems = [...result.refused.map((r) => `refused: ${r}`), ...result.failures.map((f) => `failed: ${f}`)];
    const volumes = j.volumes.map((v, i) => (i === volume ? { ...v, read: true, files: result.files, bytes: result.bytes } : v));
    // The agent's progress reports during a Read count that volume only: the job's totals are the sum of the volumes read.
    const sum = (key: 'files' | 'bytes'): number => volumes.reduce((n, v) => n + (v[key] ?? 0), 0);
    return {
      ...j,
      volumes,
      progress: { ...j.progress, files: sum('files'), bytes: sum('bytes'), currentPath: undefined },
      notRestored: [...j.notRestored, ...problems].slice(0, KEPT_PROBLEMS),
      updatedAt: now.toISOString(),
    };
  });
  return { statusCode: job.notRestored.length > 0 || result.statusCode > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS };
}

export type FallbackDecision = { next: true; copyNumber: number; storageUnit: string } | { next: false; reason: string };

/**
 * After a failed copy has been unmounted and released (the NextCopy state):
 * when it failed with its data, media or unit (COPY_FAILURES) and the job
 * has a further copy on tape (`fallbackCopies`, each looked at again: one
 * since expired, marked broken or no longer on a tape unit is passed
 * over), the job is turned to that copy: `copyNumber` and `storageUnit`
 * set, its volumes planned again by Plan, what the failed copy read
 * forgotten (its totals, volumes and members not restored), the target
 * written with overwrite from now on (what the failed copy put in place
 * was each checked against its index sha256 first), and a detail line
 * saying which copy failed and why. Otherwise the job ends with the
 * failure. A job that ended meanwhile (cancelled) never goes on.
 */
export async function fallBackToNextCopy(deps: RestoreJobDeps, jobId: number, failure: { Error?: string; Cause?: string }, now: Date): Promise<FallbackDecision> {
  const job = await getJobOfKind(deps.jobs, jobId, 'restore');
  if (job.state === 'DONE') return { next: false, reason: `job ${jobId} has ended (status ${job.statusCode})` };
  if (!('backupId' in job.source)) return { next: false, reason: 'a point-in-time restore reads one image' };
  const statusCode = statusFromFailure(failure);
  if (!COPY_FAILURES.has(statusCode)) return { next: false, reason: `status ${statusCode} is not a failure of the copy` };
  const failed = job.copyNumber ?? (await deps.catalog.getImage(job.source.backupId).then((i) => (i ? primaryCopy(i).copyNumber : 1)));
  const passed: string[] = [];
  let left = job.fallbackCopies ?? [];
  while (left.length > 0) {
    const [copyNumber, ...rest] = left as [number, ...number[]];
    left = rest;
    let storageUnit: string;
    try {
      ({ storageUnit } = await tapeImageOf(deps, job.source.backupId, copyNumber));
      const image = await deps.catalog.getImage(job.source.backupId);
      if (image && isBrokenCopy(image, copyNumber)) throw new CairnError(StatusCode.CORRUPT_IMAGE, `copy ${copyNumber} is marked broken`);
    } catch (error) {
      passed.push(`copy ${copyNumber}: ${messageOf(error)}`);
      continue;
    }
    const at = now.toISOString();
    const said = `copy ${failed} on ${job.storageUnit ?? '?'} failed with status ${statusCode} (${failureMessage(failure)}): restoring from copy ${copyNumber} on ${storageUnit}${passed.length > 0 ? ` (passed over ${passed.join('; ')})` : ''}`;
    await updateJobOfKind(deps.jobs, jobId, 'restore', (j) => ({
      ...j,
      copyNumber,
      storageUnit,
      fallbackCopies: rest,
      volumes: [],
      notRestored: [],
      target: { ...j.target, existing: 'overwrite' },
      progress: { ...j.progress, files: 0, bytes: 0, currentPath: undefined },
      details: [...(j.details ?? []), { at, message: said.slice(0, 2048) }],
      updatedAt: at,
    }));
    return { next: true, copyNumber, storageUnit };
  }
  return { next: false, reason: passed.length > 0 ? `no further copy could be read (${passed.join('; ')})` : 'no further copy on tape' };
}
