import { primaryCopy, type Image, type ImageClaim } from '../model/image.ts';
import { imageWrittenBy, type Job } from '../model/job.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaStore } from '../ports/media-store.ts';
import { messageOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { finishJob } from './job-service.ts';
import { releaseStranded, SWEEP_LIMIT } from './execution-janitor.ts';

/**
 * Where a storage unit keeps staged images, seen from the janitor. Disk and
 * S3 units implement it on their object store; a tape unit will free the
 * tape files a claim wrote.
 */
export interface StagingArea {
  /** Removes everything the claim's job wrote for its image, complete or not. Idempotent. */
  discard(claim: ImageClaim, unit: StorageUnit): Promise<{ objects: number; incomplete: number; bytes: number }>;
  /**
   * What makes a catalogued image unusable (a missing or short fragment, a
   * manifest that disagrees with the catalog); empty when it checks out.
   * Reads the manifest and looks at every object, but not at their content.
   */
  check(image: Image, unit: StorageUnit): Promise<string[]>;
}

export interface JanitorDeps {
  config: ConfigStore;
  jobs: JobStore;
  catalog: CatalogStore;
  media: Pick<MediaStore, 'release' | 'listReservations'>;
  staging: StagingArea;
  /**
   * True when nothing runs the job any more: the process that ran it is
   * gone. Such a job is ended, and what it staged is removed at once.
   */
  isOrphaned(job: Job): boolean;
  /**
   * Unloads the tape drive an orphaned job holds (the Unmount its dead
   * process never ran) and records the drive empty in the media manager,
   * before its reservations are released; a job holding no drive is left
   * alone. Absent where there is no tape. A failure is reported and the
   * reservations are released anyway: the next Mount asks the changer what
   * the drive holds and unloads it first.
   */
  unloadTape?(jobId: number, now: Date): Promise<void>;
  /**
   * Ids that hold reservations without a job record and whose holder still
   * runs (a standalone duplicate to tape: local/reservation-holders.ts):
   * their reservations are not stranded and stay.
   */
  sparedHolders?: ReadonlySet<number>;
}

/**
 * How long a claim whose job no longer uses it is left alone while the job's
 * runner may still be alive. Longer than the workflow's HeartbeatSeconds
 * (600), so an agent the workflow has lost has stopped (its next heartbeat
 * is refused and it removes its own objects) before the janitor removes
 * the rest: a writer still running must never recreate what was removed.
 */
export const CLAIM_GRACE_SECONDS = 900;

export interface JanitorReport {
  /** Jobs ended because their runner was gone: 2002, or the status of an image they had catalogued. */
  endedJobs: { jobId: number; statusCode: number; reason: string }[];
  /** Staged images removed, with what they held. */
  removedClaims: { backupId: string; jobId: number; storageUnit: string; objects: number; incomplete: number; bytes: number; reason: string }[];
  /** Jobs that were DONE (or gone) but still held a reservation (their Release failed), now released. */
  releasedReservations: number[];
  /** Catalogued images taken back because their job and they disagreed. */
  withdrawnImages: { backupId: string; jobId: number; reason: string }[];
  /** What could not be cleaned up this time (it is tried again next time). */
  problems: string[];
}

/**
 * Makes the job records, the catalog and the storage units agree (DESIGN §8),
 * on start and on every tick:
 *
 * 1. A QUEUED or ACTIVE job whose runner is gone ends. If it had already
 *    catalogued its image (the process died between the Catalog and EndJob
 *    steps) and the image checks out, the job succeeded: it ends with the
 *    image's status. Otherwise it ends 2002, and an image it catalogued is
 *    withdrawn. A tape drive it holds is unloaded (`unloadTape`). Its
 *    reservation is released either way, and so is one a DONE job still
 *    holds (its Release step failed for good).
 * 2. A claim whose job no longer uses it (the job ended, moved on to another
 *    attempt, or is gone) has its data removed from the storage unit, then
 *    the claim itself: at once when the job's runner is gone, otherwise
 *    after CLAIM_GRACE_SECONDS.
 *
 * So after a crash at any moment, storage holds only bytes that a
 * catalogued image or a running job owns. Safe to run concurrently with
 * jobs and with another janitor: every step is idempotent, and nothing a
 * running job owns is touched.
 */
export async function reconcile(deps: JanitorDeps, now: Date): Promise<JanitorReport> {
  const report: JanitorReport = { endedJobs: [], releasedReservations: [], removedClaims: [], withdrawnImages: [], problems: [] };
  await endOrphanedJobs(deps, now, report);
  // The same pass the cloud sweep makes (execution-janitor.ts); every job is read, none is listed.
  const stranded = { released: report.releasedReservations, problems: report.problems };
  await releaseStranded(deps, [], SWEEP_LIMIT, stranded, deps.sparedHolders);
  await removeAbandonedClaims(deps, now, report);
  return report;
}

async function endOrphanedJobs(deps: JanitorDeps, now: Date, report: JanitorReport): Promise<void> {
  for (const state of ['ACTIVE', 'QUEUED'] as const) {
    for (const job of await deps.jobs.list({ state, limit: 10_000 })) {
      if (!deps.isOrphaned(job)) continue;
      try {
        const outcome = await outcomeOfOrphan(deps, job, now, report);
        await deps.unloadTape?.(job.jobId, now).catch((error: unknown) => report.problems.push(`job ${job.jobId}: its tape drive could not be unloaded: ${messageOf(error)}`));
        await deps.media.release(job.jobId);
        const ended = await finishJob(deps.jobs, job.jobId, outcome.statusCode === undefined ? { failure: { Error: `Status${StatusCode.JOB_ORPHANED}`, Cause: outcome.reason } } : { statusCode: outcome.statusCode }, now);
        report.endedJobs.push({ jobId: job.jobId, statusCode: ended.statusCode, reason: outcome.reason });
      } catch (error) {
        report.problems.push(`job ${job.jobId}: could not be ended: ${messageOf(error)}`);
      }
    }
  }
}

/** An orphan with a catalogued image that checks out succeeded; any other ends 2002. */
async function outcomeOfOrphan(deps: JanitorDeps, job: Job, now: Date, report: JanitorReport): Promise<{ statusCode?: number; reason: string }> {
  const stopped = `the process that ran the job (${job.owner ?? 'unknown'}) stopped while the job was ${job.state}`;
  const backupId = imageWrittenBy(job);
  const image = backupId ? await deps.catalog.getImage(backupId) : undefined;
  if (!image || image.jobId !== job.jobId) return { reason: stopped };
  // The job wrote the primary copy; that is the one to check.
  const { storageUnit } = primaryCopy(image);
  const unit = await deps.config.getStorageUnit(storageUnit);
  const problems = unit ? await deps.staging.check(image, unit).catch((error: unknown) => [messageOf(error)]) : [`storage unit ${storageUnit} does not exist`];
  if (problems.length === 0) return { statusCode: image.statusCode, reason: `${stopped}, after its image ${image.backupId} was catalogued; the image checks out` };
  const reason = `${stopped}; its catalogued image ${image.backupId} does not check out (${problems[0]}${problems.length > 1 ? `, and ${problems.length - 1} more` : ''}) and was withdrawn`;
  await deps.catalog.withdrawImage(image.backupId, now);
  report.withdrawnImages.push({ backupId: image.backupId, jobId: job.jobId, reason });
  return { reason };
}

async function removeAbandonedClaims(deps: JanitorDeps, now: Date, report: JanitorReport): Promise<void> {
  for (const claim of await deps.catalog.listClaims()) {
    const job = await deps.jobs.get(claim.jobId);
    const abandoned = abandonment(deps, claim, job, now);
    if (abandoned === undefined) continue;
    const unit = await deps.config.getStorageUnit(claim.storageUnit);
    if (!unit) {
      report.problems.push(`claim ${claim.backupId} of job ${claim.jobId}: storage unit ${claim.storageUnit} does not exist, so its data cannot be removed`);
      continue;
    }
    try {
      const removed = await deps.staging.discard(claim, unit);
      await deps.catalog.dropClaim(claim.backupId, claim.jobId);
      report.removedClaims.push({ backupId: claim.backupId, jobId: claim.jobId, storageUnit: unit.name, ...removed, reason: abandoned });
    } catch (error) {
      report.problems.push(`claim ${claim.backupId} of job ${claim.jobId}: its data in ${unit.name} could not be removed: ${messageOf(error)}`);
    }
  }
}

/** Why nothing will ever commit this claim, or undefined while a job may still be writing it. */
function abandonment(deps: JanitorDeps, claim: ImageClaim, job: Job | undefined, now: Date): string | undefined {
  if (!job) return `job ${claim.jobId} does not exist`;
  const orphaned = deps.isOrphaned(job);
  const uses = job.state !== 'DONE' && imageWrittenBy(job) === claim.backupId;
  if (uses && !orphaned) return undefined;
  const why = uses ? `the process running job ${job.jobId} stopped` : job.state === 'DONE' ? `job ${job.jobId} ended with status ${job.statusCode}` : `job ${job.jobId} moved on to attempt ${job.attempt}`;
  if (orphaned) return why;
  const lastActivity = Math.max(Date.parse(claim.claimedAt), Date.parse(job.endedAt ?? job.updatedAt));
  return now.getTime() - lastActivity >= CLAIM_GRACE_SECONDS * 1000 ? why : undefined;
}
