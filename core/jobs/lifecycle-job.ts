import type { z } from 'zod';
import { Job, type CatalogBackupJob, type CatalogCheckJob, type DuplicateJob, type ImageCleanupJob, type JobOfKind, type JobProgress, type LifecycleJobKind, type RestoreJob } from '../model/job.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { Timer } from '../ports/clock.ts';
import { CairnError, messageOf, statusOf } from '../errors.ts';
import { jobRecordReporter } from './job-reporter.ts';
import { StatusCode, describeStatus, type StatusCodeValue } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';

interface Schemas {
  duplicate: typeof DuplicateJob;
  'image-cleanup': typeof ImageCleanupJob;
  'catalog-backup': typeof CatalogBackupJob;
  'catalog-check': typeof CatalogCheckJob;
  restore: typeof RestoreJob;
}

/**
 * The kinds `runAsJob` runs in one process: the lifecycle kinds, and a
 * restore of a disk or S3 image started from the activity monitor
 * (cli/recorded-restore.ts), which has no workflow of its own either.
 */
export type InProcessJobKind = LifecycleJobKind | 'restore';

/** The fields every job has, which the runner sets. */
type BaseKey = 'jobId' | 'type' | 'state' | 'statusCode' | 'statusText' | 'attempt' | 'waitingReason' | 'executionName' | 'attempts' | 'progress' | 'error' | 'details' | 'owner' | 'queuedAt' | 'startedAt' | 'endedAt' | 'updatedAt';

/** The fields of a lifecycle kind its caller gives (those with defaults may be left out). */
export type LifecycleFields<K extends InProcessJobKind> = Omit<z.input<Schemas[K]>, BaseKey>;

export interface LifecycleJobDeps {
  jobs: JobStore;
  now: () => Date;
  /**
   * Who runs the job: the standalone runtime's `local:<host>:<pid>:<start>`
   * (its janitor ends the job when that process is gone), the scheduler
   * Lambda's `lambda:scheduler:<request id>` (the cloud sweep ends it once the
   * Lambda's time limit has passed), or the CLI's `cli:<host>:<pid>`.
   */
  owner: string;
  /**
   * How the running job learns that it was ended from elsewhere (`cairn jobs
   * cancel` in another process, a janitor): every `watchEveryMs` its record
   * is stamped by the job-record reporter's heartbeat (core/jobs/job-reporter.ts,
   * the reporter a backup's agent uses), whose write the store refuses once
   * the job is DONE; that aborts the work's `signal`. The runtime's timer
   * (lambdas/system-clock.ts `systemTimer`); tests tick by hand.
   */
  timer: Timer;
  /** How often the record is looked at (default LIFECYCLE_WATCH_MS). */
  watchEveryMs?: number;
}

/**
 * How often a running lifecycle job looks at its record for a cancel: one
 * conditional write (an empty progress report) each time, so a duplicate
 * of an hour costs 1800 writes, and a cancel is noticed within 2 s.
 */
export const LIFECYCLE_WATCH_MS = 2000;

/** What the operation can tell its job while it runs. */
export interface LifecycleJobContext<K extends InProcessJobKind> {
  jobId: number;
  /**
   * Aborted once the job was ended from elsewhere (cancelled: its reason a
   * CairnError 150 naming the job). The operation stops at its next safe
   * point (between objects, images or steps), catalogues nothing it had not
   * catalogued, releases what it holds, and rejects.
   */
  signal: AbortSignal;
  /** Records progress (bytes, files) while the job is ACTIVE; a failure to record is ignored (the next report supersedes it). */
  progress(progress: Partial<JobProgress>): Promise<void>;
  /** Records fields learned while running (the image a catalog backup claims); rejects when the job store does. */
  record(fields: Partial<LifecycleFields<K>>): Promise<void>;
}

/** How the operation ended: its status (0 success, 1 partial), the fields to record, its figures. */
export interface LifecycleJobEnd<K extends InProcessJobKind> {
  statusCode: number;
  /** Why a status other than 0 (the job record's error). */
  reason?: string;
  fields?: Partial<LifecycleFields<K>>;
  progress?: Partial<JobProgress>;
}

export interface LifecycleJobRun<R> {
  jobId: number;
  statusCode: number;
  result: R;
}

/**
 * Runs one lifecycle operation (a duplicate, an image cleanup, a catalog
 * backup or check) as a job, in this process: the job is created QUEUED,
 * made ACTIVE, `work` runs, and the job ends DONE with the status `ended`
 * says. When `work` throws, the job ends with the error's status (a
 * CairnError's, else 2000) and its message as the reason, and the error is
 * thrown on: the caller reports it as before.
 *
 * Every exit path ends the job, except the death of the process itself:
 * then the runtime's janitor ends it by its `owner` (standalone: the
 * process is gone; cloud: the scheduler Lambda's time limit has passed).
 * A job an administrator ended meanwhile (cancel) keeps its status: the
 * watch (`deps.timer`) aborts `work`'s signal, and once `work` rejects the
 * error thrown on is a CairnError with the job's status (150) and the
 * reason the job was ended with. An operation that finished all the same
 * (the cancel came after its last safe point) leaves a line in the job's
 * details saying what it did.
 */
export async function runAsJob<K extends InProcessJobKind, R>(
  deps: LifecycleJobDeps,
  kind: K,
  fields: LifecycleFields<K>,
  work: (job: LifecycleJobContext<K>) => Promise<R>,
  ended: (result: R) => LifecycleJobEnd<K>,
  options: { startedAt?: Date } = {},
): Promise<LifecycleJobRun<R>> {
  const jobId = await deps.jobs.nextJobId();
  const queuedAt = (options.startedAt ?? deps.now()).toISOString();
  const job = parseOrThrow(Job, { ...fields, jobId, type: kind, state: 'QUEUED', owner: deps.owner, queuedAt, updatedAt: queuedAt }, `${kind} job`, StatusCode.INTERNAL_ERROR);
  await deps.jobs.create(job);
  return runQueuedJob<K, R>(deps, jobId, work, ended, options);
}

/**
 * The rest of `runAsJob` for a lifecycle job queued already (by the Queue
 * state of the catalog-job state machine, say): the QUEUED job turns
 * ACTIVE (a job in any other state is refused: it ran or was cancelled),
 * `work` runs, and the job ends DONE with the status `ended` says, or with
 * the error `work` threw, which is thrown on.
 */
export async function runQueuedJob<K extends InProcessJobKind, R>(
  deps: Pick<LifecycleJobDeps, 'jobs' | 'now' | 'timer' | 'watchEveryMs'>,
  jobId: number,
  work: (job: LifecycleJobContext<K>) => Promise<R>,
  ended: (result: R) => LifecycleJobEnd<K>,
  options: { startedAt?: Date } = {},
): Promise<LifecycleJobRun<R>> {
  const startedAt = options.startedAt?.toISOString() ?? deps.now().toISOString();
  await deps.jobs.update(jobId, (j) => ({ ...j, state: 'ACTIVE', startedAt, updatedAt: startedAt }), { expectedStates: ['QUEUED'] });
  const abort = new AbortController();
  const stopWatching = watch(deps, jobId, abort);
  const context: LifecycleJobContext<K> = {
    jobId,
    signal: abort.signal,
    progress: async (progress) => void (await deps.jobs.recordProgress(jobId, progress, deps.now()).catch(() => undefined)),
    record: async (more) => {
      const at = deps.now();
      await deps.jobs.update(jobId, (j) => (j.state === 'DONE' ? j : withFields(j, more, at)));
    },
  };
  let result: R;
  try {
    result = await work(context);
  } catch (error) {
    const done = await end(deps, jobId, { statusCode: statusOf(error), reason: messageOf(error) }).catch(() => undefined);
    if (abort.signal.aborted && done?.statusCode !== undefined) throw new CairnError(done.statusCode as StatusCodeValue, `job ${jobId} (${done.type}) was ended while it ran (status ${done.statusCode}${done.error ? `: ${done.error}` : ''}): it stopped before it finished`, { cause: error });
    throw error;
  } finally {
    stopWatching();
  }
  const outcome = ended(result);
  const done = await end(deps, jobId, outcome);
  return { jobId, statusCode: done.statusCode ?? outcome.statusCode, result };
}

/** Stamps the job's record every `watchEveryMs`, one write at a time, until stopped; a refused stamp (the job ended) aborts `abort`. */
function watch(deps: Pick<LifecycleJobDeps, 'jobs' | 'now' | 'timer' | 'watchEveryMs'>, jobId: number, abort: AbortController): () => void {
  const reporter = jobRecordReporter({ jobs: deps.jobs, jobId, clock: { now: deps.now }, abort, heartbeat: async () => undefined });
  let busy = false;
  return deps.timer.every(deps.watchEveryMs ?? LIFECYCLE_WATCH_MS, () => {
    if (busy || abort.signal.aborted) return;
    busy = true;
    // A stamp that fails (the store unreachable for a moment) is tried again at the next tick: the work goes on.
    void reporter
      .heartbeat()
      .catch(() => undefined)
      .finally(() => (busy = false));
  });
}

/** For work that has run already: nothing to watch. */
const NO_TIMER: Timer = { every: () => () => undefined };

/**
 * Records an operation that has run already as a job (QUEUED, ACTIVE, DONE
 * in turn, started at `startedAt`): for work most runs of which do nothing,
 * recorded only when it did something (the scheduler tick's image cleanup,
 * whose every step the next run finishes should its process die).
 */
export async function recordFinishedJob<K extends InProcessJobKind>(deps: Omit<LifecycleJobDeps, 'timer' | 'watchEveryMs'>, kind: K, fields: LifecycleFields<K>, startedAt: Date, outcome: LifecycleJobEnd<K>): Promise<number> {
  const run = await runAsJob({ ...deps, timer: NO_TIMER }, kind, fields, async () => undefined, () => outcome, { startedAt });
  return run.jobId;
}

/**
 * Ends the job DONE with the outcome, unless it ended already (a cancel):
 * then its status stands, and an operation that finished all the same
 * (status 0 or 1) is noted in its details. Resolves the ended job.
 */
async function end<K extends InProcessJobKind>(deps: Pick<LifecycleJobDeps, 'jobs' | 'now'>, jobId: number, outcome: LifecycleJobEnd<K>): Promise<Job> {
  const at = deps.now();
  return deps.jobs.update(jobId, (j) => {
    if (j.state === 'DONE') {
      if (outcome.statusCode > StatusCode.PARTIAL_SUCCESS) return j;
      const what = Object.entries(outcome.fields ?? {}).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ');
      return { ...j, details: [...(j.details ?? []), { at: at.toISOString(), message: `the ${j.type} had finished (status ${outcome.statusCode}${what ? `; ${what}` : ''}) when it learned the job was ended`.slice(0, 2048) }] };
    }
    const withMore = withFields(j, outcome.fields ?? {}, at);
    return {
      ...withMore,
      state: 'DONE',
      statusCode: outcome.statusCode,
      statusText: describeStatus(outcome.statusCode),
      waitingReason: undefined,
      error: outcome.reason,
      progress: { ...withMore.progress, ...outcome.progress },
      endedAt: at.toISOString(),
      updatedAt: at.toISOString(),
    };
  });
}

/** The job with more of its kind's fields, checked against its kind's schema (a field of another kind is a bug: 2000). */
function withFields<K extends InProcessJobKind>(job: Job, fields: Partial<LifecycleFields<K>>, at: Date): Job {
  return parseOrThrow(Job, { ...job, ...fields, updatedAt: at.toISOString() }, `job ${job.jobId}`, StatusCode.INTERNAL_ERROR) as JobOfKind<K>;
}

/** At most this many names (images, findings, problems) a lifecycle job keeps of a list; its count says how many in all. */
export const LIFECYCLE_NAMES_KEPT = 10;
