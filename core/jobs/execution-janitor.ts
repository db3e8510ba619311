import { imageWrittenBy, LIFECYCLE_JOB_KINDS, type Job, type JobKind } from '../model/job.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ExecutionState, ExecutionStatuses } from '../ports/execution-status.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import { recordDriveOfDeadJob, type DriveLeftLoaded } from '../broker/tape-held.ts';
import { messageOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { finishJob, type JobOutcome } from './job-service.ts';

/**
 * The errors the backup-job workflow fails with when a step that ends a job
 * failed after its retries (statemachines/backup-job.asl.json): EndJob
 * (`JobNotEnded`, its cause the JSON of `{ jobId, outcome, endFailure }`) and
 * Release (`ReservationNotReleased`, after EndJob ended the job).
 */
export const JOB_NOT_ENDED = 'JobNotEnded';
export const RESERVATION_NOT_RELEASED = 'ReservationNotReleased';

/** How an execution of a job workflow ended: an EventBridge status-change event, or DescribeExecution. */
export interface ExecutionEnd extends ExecutionState {
  executionName: string;
  /**
   * The kind of job the workflow runs (the backup-job or the restore-job
   * state machine: the event's state machine ARN says which). A job of
   * another kind that recorded the same execution name is not this
   * execution's: it is left alone. Absent: any kind.
   */
  kind?: JobKind | readonly JobKind[];
}

/** Step Functions statuses in which an execution still runs, or may run again (a redrive). */
const OPEN = new Set(['RUNNING', 'PENDING_REDRIVE']);

export interface ExecutionJanitorDeps {
  jobs: JobStore;
  media: Pick<MediaStore, 'release' | 'listReservations'>;
  catalog: Pick<CatalogStore, 'getImage' | 'withdrawImage'>;
  /**
   * The media manager: given, a tape drive the job holds (a backup's or a
   * restore's) is recorded as possibly holding its volume before the
   * reservation goes (`recordDriveOfDeadJob`), so the scheduler's idle
   * unload takes it out through the robot's agent. Absent where no tape is
   * configured.
   */
  emm?: Pick<MediaDatabase, 'getDrive' | 'getMedia' | 'setDriveLoaded'>;
  /**
   * Given, a backup job this janitor ends has its frozen images deleted
   * through its agent (`sendSnapshotDelete`, core/jobs/snapshot-delete.ts):
   * a stopped or timed-out execution ran no DeleteSnapshot step. Its failure
   * is reported in the action, never fails the janitor (the agent's clean-up
   * at its next start is the backstop).
   */
  deleteSnapshots?: (job: Job) => Promise<{ instanceId: string; commandId: string } | undefined>;
}

/** What the janitor did about one execution's job. */
export interface JanitorAction {
  executionName: string;
  /** The job the execution ran; absent when it queued none (its Queue step failed, say). */
  jobId?: number;
  /** ended: this call ended it; already-ended: it was DONE and kept its status; no-job: nothing to end. */
  action: 'ended' | 'already-ended' | 'no-job';
  statusCode?: number;
  /** Why the job ended with this status (the job record's error says the same). */
  reason?: string;
  /** True when a reservation the job still held was released. */
  released: boolean;
  /** The tape drive the job held, recorded as possibly holding its volume: the scheduler's idle unload empties it. */
  driveLeftLoaded?: DriveLeftLoaded;
  /** The job's image, withdrawn from the catalog because the job ended with a failure. */
  withdrawnImage?: string;
  /** The delete-snapshot command sent to the job's agent, or why it could not be sent. */
  snapshotDelete?: { instanceId: string; commandId: string } | { problem: string };
}

/**
 * The status a job ends with when its execution ended this way, as the
 * outcome EndJob would have been given:
 * - ABORTED (StopExecution): 150, termination requested by administrator;
 * - TIMED_OUT (the workflow's TimeoutSeconds): 41, timed out;
 * - FAILED as JobNotEnded: the outcome the workflow carried, exactly (EndJob
 *   failed after its retries; the cause holds the outcome);
 * - FAILED otherwise: the execution's error through `statusFromFailure`
 *   (`Status84` is 84, States.Timeout 41, ..., anything else 2000);
 * - SUCCEEDED with the job not ended, or an execution Step Functions does not
 *   know (`end` undefined): the workflow can no longer end it, 2002.
 */
export function outcomeOfExecution(executionName: string, end: ExecutionState | undefined): JobOutcome {
  const detail = (state: ExecutionState) => [state.error, state.cause].filter((p) => typeof p === 'string' && p.length > 0).join(': ');
  const failure = (status: number, cause: string): JobOutcome => ({ failure: { Error: `Status${status}`, Cause: cause } });
  if (end === undefined) return failure(StatusCode.JOB_ORPHANED, `Step Functions does not know the execution ${executionName} that ran the job (it closed more than 90 days ago, or never started)`);
  const because = detail(end) ? ` (${detail(end)})` : '';
  switch (end.status) {
    case 'ABORTED':
      return failure(StatusCode.TERMINATED_BY_ADMINISTRATOR, `the execution ${executionName} was stopped${because}`);
    case 'TIMED_OUT':
      return failure(StatusCode.NETWORK_TIMEOUT, `the execution ${executionName} timed out${because}`);
    case 'FAILED': {
      if (end.error === JOB_NOT_ENDED) {
        const carried = carriedOutcome(end.cause);
        if (carried) return carried;
      }
      return { failure: { Error: end.error ?? 'States.Runtime', Cause: `the execution ${executionName} failed${because}` } };
    }
    default:
      return failure(StatusCode.JOB_ORPHANED, `the execution ${executionName} ended ${end.status} without ending the job`);
  }
}

/** The outcome in a JobNotEnded cause (`{ jobId, outcome, endFailure }` as JSON), or undefined when it is not one. */
export function carriedOutcome(cause: string | undefined): JobOutcome | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(cause ?? '');
  } catch {
    return undefined;
  }
  const outcome = (parsed as { outcome?: unknown } | null)?.outcome as JobOutcome | undefined;
  if (typeof outcome !== 'object' || outcome === null) return undefined;
  if (typeof outcome.statusCode === 'number' && Number.isInteger(outcome.statusCode)) return { statusCode: outcome.statusCode };
  const f = outcome.failure;
  if (typeof f === 'object' && f !== null && (typeof f.Error === 'string' || typeof f.Cause === 'string')) {
    return { failure: { ...(typeof f.Error === 'string' ? { Error: f.Error } : {}), ...(typeof f.Cause === 'string' ? { Cause: f.Cause } : {}) } };
  }
  return undefined;
}

/**
 * The janitor of one execution that ended ABORTED, TIMED_OUT or FAILED (the
 * EventBridge rule on the backup-job state machine): finds the job the
 * execution ran, ends it with the status its end means (`outcomeOfExecution`)
 * and releases what it holds. Idempotent: a job already DONE keeps its
 * status (only a reservation it still holds is released), so a repeated
 * event, or an execution that failed after ending its job, changes nothing
 * else.
 */
export async function endJobOfExecution(deps: ExecutionJanitorDeps, end: ExecutionEnd, now: Date): Promise<JanitorAction> {
  const job = await deps.jobs.findByExecution(end.executionName);
  if (!job || (end.kind !== undefined && !(typeof end.kind === 'string' ? [end.kind] : end.kind).includes(job.type))) return { executionName: end.executionName, action: 'no-job', released: false };
  return endJob(deps, job, end.executionName, outcomeOfExecution(end.executionName, end), now);
}

/**
 * Ends `job` with `outcome` unless it is DONE already, withdraws its image
 * when it ended with a failure, and releases its reservation.
 */
async function endJob(deps: ExecutionJanitorDeps, job: Job, executionName: string, outcome: JobOutcome, now: Date): Promise<JanitorAction> {
  if (job.state === 'DONE') {
    const tape = await releaseHeld(deps, job.jobId, now);
    return { executionName, jobId: job.jobId, action: 'already-ended', statusCode: job.statusCode, ...tape };
  }
  const ended = await finishJob(deps.jobs, job.jobId, outcome, now);
  // A job and its image always agree: a Catalog step still running when the
  // execution stopped may commit the image after the job ended. commitImage
  // checks the job after committing; this checks the image after ending the
  // job, so one of the two sees the other (as cancelJob does).
  let withdrawnImage: string | undefined;
  if (ended.statusCode >= 2) {
    const current = await deps.jobs.get(job.jobId);
    const backupId = current && imageWrittenBy(current);
    const image = backupId ? await deps.catalog.getImage(backupId) : undefined;
    if (image?.jobId === job.jobId && (await deps.catalog.withdrawImage(image.backupId, now))) withdrawnImage = image.backupId;
  }
  const held = await releaseHeld(deps, job.jobId, now);
  const snapshotDelete = await deleteSnapshotsOf(deps, job);
  const reason = outcome.failure?.Cause ?? `the execution ${executionName} carried status ${ended.statusCode}`;
  return { executionName, jobId: job.jobId, action: 'ended', statusCode: ended.statusCode, reason, ...held, ...(withdrawnImage ? { withdrawnImage } : {}), ...(snapshotDelete ? { snapshotDelete } : {}) };
}

/** Sends the job's delete-snapshot when the janitor can; a failure is reported, not thrown. */
async function deleteSnapshotsOf(deps: ExecutionJanitorDeps, job: Job): Promise<JanitorAction['snapshotDelete']> {
  if (deps.deleteSnapshots === undefined) return undefined;
  try {
    return await deps.deleteSnapshots(job);
  } catch (error) {
    return { problem: `the delete-snapshot command for job ${job.jobId} was not sent (the agent's clean-up at its next start removes its images): ${messageOf(error)}` };
  }
}

/**
 * Releases what the job holds; a tape drive among it is first recorded as
 * possibly holding the job's volume (with the media manager), so a failure
 * there leaves the reservation for the retried event or the next sweep.
 */
async function releaseHeld(deps: ExecutionJanitorDeps, jobId: number, now: Date): Promise<{ released: boolean; driveLeftLoaded?: DriveLeftLoaded }> {
  const driveLeftLoaded = deps.emm ? await recordDriveOfDeadJob({ media: deps.media, emm: deps.emm }, jobId, now) : undefined;
  const released = await deps.media.release(jobId);
  return { released, ...(driveLeftLoaded ? { driveLeftLoaded } : {}) };
}

/** A job updated less than this long ago is not checked by the sweep: it is running (or the event janitor has it). */
export const SWEEP_QUIET_SECONDS = 600;
/** At most this many executions are described, and this many stranded reservations released, per sweep. */
export const SWEEP_LIMIT = 20;

export interface SweepDeps extends ExecutionJanitorDeps {
  /** Executions of the backup-job workflow: a backup job's `executionName` is looked up here. */
  executions: ExecutionStatuses;
  /**
   * Executions of the restore-job workflow: a restore job's. Absent, restore
   * jobs are not checked (an execution of another workflow must never be
   * looked up where it cannot be found: the job would be ended as gone).
   */
  restoreExecutions?: ExecutionStatuses;
  /** Executions of the verify-job workflow: a verify job's. Absent, verify jobs are not checked (as restore jobs without theirs). */
  verifyExecutions?: ExecutionStatuses;
  /**
   * Executions of the duplicate-job workflow: a duplicate job that has an
   * `executionName` (a policy copy the cloud scheduler started). Absent, they
   * are not checked. A duplicate job without one runs in its process (`cairn
   * duplicate`, the standalone tick) and is ended as a lifecycle job.
   */
  duplicateExecutions?: ExecutionStatuses;
  /** Executions of the catalog-job workflow: a catalog-backup or catalog-check job's that has an execution name (the cloud scheduler's). Absent, they are not checked. */
  catalogExecutions?: ExecutionStatuses;
  media: Pick<MediaStore, 'release' | 'listReservations'>;
  /**
   * Job ids that hold reservations for work that is no job (the scheduler's
   * idle unloads, core/media/idle-unload.ts): never released as stranded.
   */
  spared?: () => Promise<ReadonlySet<number>>;
}

export interface SweepReport {
  /** Executions described. */
  checked: number;
  /** Jobs ended because their execution was gone or no longer running. */
  ended: JanitorAction[];
  /** Jobs that were DONE (or gone) but still held a reservation, now released. */
  released: number[];
  /** What could not be repaired this time (the next sweep tries again). */
  problems: string[];
}

/**
 * The periodic sweep (every scheduler tick), the backstop of the event
 * janitor: a QUEUED or ACTIVE job among `recentJobs` whose execution is gone
 * or no longer running ends the way the janitor ends it, and a reservation
 * held by a job that is DONE (or does not exist) is released (a Release that
 * failed, or a Reserve step that granted after its job was ended).
 *
 * Bounded: only jobs quiet for SWEEP_QUIET_SECONDS are checked, quietest
 * first, at most `limit` executions described and `limit` reservations
 * released per sweep. A job whose execution died stops being updated, so it
 * soon becomes the quietest; a running one reports progress or a waiting
 * reason, which moves it back. Jobs without an `executionName` (the
 * standalone runtime's, whose own janitor ends them) are not checked, nor
 * are restore jobs without `restoreExecutions` or verify jobs without
 * `verifyExecutions`. A job's execution is looked
 * up on its kind's workflow.
 */
export async function sweepJobs(deps: SweepDeps, recentJobs: readonly Job[], now: Date, limit = SWEEP_LIMIT): Promise<SweepReport> {
  const report: SweepReport = { checked: 0, ended: [], released: [], problems: [] };
  const quietSince = now.getTime() - SWEEP_QUIET_SECONDS * 1000;
  const candidates = recentJobs
    // A multiple-data-streams parent (childJobIds) runs no execution of its own: core/jobs/stream-advance.ts ends it.
    .filter((job): job is Job & { executionName: string } => job.state !== 'DONE' && job.executionName !== undefined && !(job.type === 'backup' && job.childJobIds !== undefined) && executionsOf(deps, job) !== undefined && Date.parse(job.updatedAt) <= quietSince)
    .sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt) || a.jobId - b.jobId)
    .slice(0, limit);
  for (const job of candidates) {
    try {
      report.checked += 1;
      const state = await executionsOf(deps, job)!.describe(job.executionName);
      if (state && OPEN.has(state.status)) continue;
      report.ended.push(await endJob(deps, job, job.executionName, outcomeOfExecution(job.executionName, state), now));
    } catch (error) {
      report.problems.push(`job ${job.jobId} (execution ${job.executionName}): ${messageOf(error)}`);
    }
  }
  await endLapsedLambdaJobs(deps, recentJobs, now, limit, report);
  let spared: ReadonlySet<number> = new Set();
  try {
    spared = (await deps.spared?.()) ?? spared;
  } catch (error) {
    // Nothing is released as stranded when what to spare is not known.
    report.problems.push(`reservations of idle unloads could not be listed: ${messageOf(error)}`);
    return report;
  }
  await releaseStranded(deps, recentJobs, limit, report, spared);
  return report;
}

/**
 * The longest a Lambda invocation runs (its hard limit, 15 minutes), and a
 * margin: a job a Lambda owns (`lambda:<function>:<request id>`, the
 * scheduler's catalog backups and checks, core/jobs/lifecycle-job.ts) that
 * is not DONE this long after it was queued has lost its runner for good.
 */
export const LAMBDA_JOB_LIMIT_SECONDS = 15 * 60 + 60;

/** Whether a job runs in the process that started it with no workflow execution (core/jobs/lifecycle-job.ts). */
function isLifecycleJob(job: Job): boolean {
  return (LIFECYCLE_JOB_KINDS as readonly string[]).includes(job.type);
}

/**
 * Ends the lifecycle jobs whose Lambda must have ended (LAMBDA_JOB_LIMIT_SECONDS
 * after they were queued) with 2002, as the standalone janitor ends those
 * of a dead process. They hold no reservation and no workflow; a catalog
 * backup's claim is then removed by the catalog check's repair (its job DONE).
 * Jobs the CLI runs with --aws (`cli:` owners) are left alone: nothing here
 * can tell whether the operator's process lives.
 */
async function endLapsedLambdaJobs(deps: SweepDeps, recentJobs: readonly Job[], now: Date, limit: number, report: SweepReport): Promise<void> {
  const lapsed = recentJobs
    .filter((job) => job.state !== 'DONE' && isLifecycleJob(job) && job.executionName === undefined && job.owner?.startsWith('lambda:') === true && now.getTime() - Date.parse(job.queuedAt) > LAMBDA_JOB_LIMIT_SECONDS * 1000)
    .slice(0, limit);
  for (const job of lapsed) {
    const reason = `the Lambda invocation that ran the job (${job.owner}) ended, its time limit past, while the job was ${job.state}`;
    try {
      const ended = await finishJob(deps.jobs, job.jobId, { failure: { Error: `Status${StatusCode.JOB_ORPHANED}`, Cause: reason } }, now);
      report.ended.push({ executionName: job.owner ?? '', jobId: job.jobId, action: 'ended', statusCode: ended.statusCode, reason, released: await deps.media.release(job.jobId) });
    } catch (error) {
      report.problems.push(`job ${job.jobId} (${job.owner}): ${messageOf(error)}`);
    }
  }
}

/** Where a job's execution is looked up: its kind's workflow, never another kind's (the job would be ended as gone). Lifecycle jobs have none. */
function executionsOf(deps: SweepDeps, job: Job): ExecutionStatuses | undefined {
  // A duplicate job a workflow runs (core/jobs/duplicate-job.ts) is looked up by its execution, as a verify job is.
  if (job.type === 'duplicate' && job.executionName !== undefined) return deps.duplicateExecutions;
  // A scheduled catalog job in the cloud runs in an execution of the catalog-job state machine (its name recorded); others in their process.
  if ((job.type === 'catalog-backup' || job.type === 'catalog-check') && job.executionName !== undefined) return deps.catalogExecutions;
  if (isLifecycleJob(job)) return undefined;
  if (job.type === 'verify') return deps.verifyExecutions;
  return job.type === 'restore' ? deps.restoreExecutions : deps.executions;
}

/**
 * Releases reservations of jobs that are DONE or do not exist: nothing will
 * release them otherwise (a Release that failed for good, a Reserve step
 * that granted after its job was ended). A DONE job never holds anything, so
 * this is safe beside running jobs. `recentJobs` spares reads: a listed job
 * that is not DONE is left to a later pass. Holders in `spared` (work that
 * is no job, and holds a drive until it is done) are left alone. Reports
 * into `report`.
 */
export async function releaseStranded(
  deps: { jobs: Pick<JobStore, 'get'>; media: Pick<MediaStore, 'release' | 'listReservations'> },
  recentJobs: readonly Job[],
  limit: number,
  report: { released: number[]; problems: string[] },
  spared: ReadonlySet<number> = new Set(),
): Promise<void> {
  let holders: number[];
  try {
    holders = [...new Set((await deps.media.listReservations()).map((r) => r.jobId))];
  } catch (error) {
    report.problems.push(`reservations could not be listed: ${messageOf(error)}`);
    return;
  }
  const known = new Map(recentJobs.map((job) => [job.jobId, job]));
  for (const jobId of holders) {
    if (report.released.length >= limit) break;
    if (spared.has(jobId)) continue;
    try {
      // A listed job that was not DONE is left to a later sweep (its list then says whether it ended);
      // one too old to be listed is read.
      const listed = known.get(jobId);
      if (listed && listed.state !== 'DONE') continue;
      const job = listed ?? (await deps.jobs.get(jobId));
      if (job && job.state !== 'DONE') continue;
      if (await deps.media.release(jobId)) report.released.push(jobId);
    } catch (error) {
      report.problems.push(`reservation of job ${jobId}: ${messageOf(error)}`);
    }
  }
}
