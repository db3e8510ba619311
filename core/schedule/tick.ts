import { CairnError, messageOf, statusOf } from '../errors.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { ExecutionStarter, StartOutcome } from '../ports/execution-starter.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { ExecutionStatuses } from '../ports/execution-status.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { AbandonedUploads } from '../ports/abandoned-uploads.ts';
import { sweepJobs, type SweepDeps, type SweepReport } from '../jobs/execution-janitor.ts';
import { loadSettings } from '../settings.ts';
import { StatusCode } from '../status-codes.ts';
import { dueJobs, scheduledRequest, type DueInput, type DueJob } from './due.ts';

/** How many recent jobs a tick reads: in-flight jobs and the jobs of recent due instants are among them. */
const RECENT_JOBS = 5000;

/** The stores the due decision reads. */
export interface ScheduleReaders {
  config: ConfigStore;
  catalog: CatalogStore;
  jobs: JobStore;
}

export interface TickDeps extends ScheduleReaders {
  starter: ExecutionStarter;
  /**
   * With these, each tick also sweeps (core/jobs/execution-janitor.ts): jobs
   * whose execution is gone or no longer running are ended, stranded
   * reservations released. The cloud scheduler passes them; the standalone
   * runtime's own janitor (local/janitor.ts) does this job there.
   */
  sweep?: {
    executions: ExecutionStatuses;
    /** Restore jobs' executions (the restore-job workflow); absent, restore jobs are not checked. */
    restoreExecutions?: ExecutionStatuses;
    /** Verify jobs' executions (the verify-job workflow); absent, verify jobs are not checked. */
    verifyExecutions?: ExecutionStatuses;
    /** Duplicate jobs' executions (the duplicate-job workflow); absent, execution-owned duplicate jobs are not checked. */
    duplicateExecutions?: ExecutionStatuses;
    media: Pick<MediaStore, 'release' | 'listReservations'>;
    /** Given, a tape drive a job ended by the sweep held is recorded as possibly loaded (core/broker/tape-held.ts). */
    emm?: SweepDeps['emm'];
    /** Holders of reservations that are no job (idle unloads in flight): never released as stranded. */
    spared?: SweepDeps['spared'];
    /** Given, each storage unit's abandoned multipart uploads are aborted too (aws/multipart-sweep.ts). */
    uploads?: AbandonedUploads;
  };
}

export interface TickResult {
  at: string;
  /** Execution names this tick started. */
  started: string[];
  /** Execution names that existed before this tick: a repeated or concurrent tick. */
  alreadyStarted: string[];
  /** How many (policy, client, schedule) were not due, each for a reason `cairn schedule due` shows. */
  notDue: number;
  /** What the sweep repaired (only when the tick sweeps). */
  swept?: SweepReport & { abortedUploads?: { storageUnit: string; key: string; uploadId: string }[] };
}

export interface TickHooks {
  /** Told of each due job with what starting it came to (the standalone service prints the ones it started). */
  onOutcome?: (job: DueJob, outcome: StartOutcome) => void;
  /** Told what the due decision read (the Lambda counts the recent jobs still QUEUED past their window from it). */
  onDueInput?: (input: DueInput) => void;
}

/**
 * Everything the due decision reads, through the ports: policies, catalogued
 * images, recent jobs and the suspend setting. The scheduler tick and
 * `cairn schedule due` read the same.
 */
export async function loadDueInput(deps: ScheduleReaders, now: Date): Promise<DueInput> {
  const [policies, images, jobs, settings] = await Promise.all([deps.config.listPolicies(), deps.catalog.listImages(), deps.jobs.list({ limit: RECENT_JOBS }), loadSettings(deps.config)]);
  return { policies, images, jobs, suspended: settings.schedulerSuspended, now };
}

/**
 * The scheduler tick (nbpem), one for every runtime: core decides what is
 * due, and each due job becomes one backup-job execution named after its
 * (policy, client, schedule, due instant), so a repeated or concurrent tick
 * starts nothing twice (the starter answers 'already-started'). Jobs start in
 * worklist order; one that fails to start does not hold up the others, and
 * the tick then fails naming each (the next tick tries them again). With
 * `deps.sweep` it then repairs what failed executions left (`sweepJobs`), and
 * fails likewise naming what it could not repair.
 */
export async function schedulerTick(deps: TickDeps, now: Date, hooks: TickHooks = {}): Promise<TickResult> {
  const input = await loadDueInput(deps, now);
  hooks.onDueInput?.(input);
  const { due, notDue } = dueJobs(input);
  const result: TickResult = { at: now.toISOString(), started: [], alreadyStarted: [], notDue: notDue.length };
  const failed: { name: string; error: unknown }[] = [];
  for (const job of due) {
    let outcome: StartOutcome;
    try {
      outcome = await deps.starter.start(job.executionName, { request: scheduledRequest(job) });
    } catch (error) {
      failed.push({ name: job.executionName, error });
      continue;
    }
    (outcome === 'started' ? result.started : result.alreadyStarted).push(job.executionName);
    hooks.onOutcome?.(job, outcome);
  }
  // After the starts, so a slow sweep never delays a due job; it reads the jobs the due decision read.
  const problems = deps.sweep ? (result.swept = await sweepJobs({ ...deps.sweep, jobs: deps.jobs, catalog: deps.catalog }, input.jobs, now)).problems : [];
  if (deps.sweep?.uploads && result.swept) {
    result.swept.abortedUploads = [];
    for (const unit of await deps.config.listStorageUnits()) {
      try {
        const swept = await deps.sweep.uploads.sweep(unit, now);
        result.swept.abortedUploads.push(...swept.aborted.map((upload) => ({ storageUnit: unit.name, ...upload })));
        problems.push(...swept.problems.map((problem) => `storage unit ${unit.name}: ${problem}`));
      } catch (error) {
        problems.push(`storage unit ${unit.name}: its abandoned uploads could not be swept: ${messageOf(error)}`);
      }
    }
  }
  if (failed.length > 0) {
    const details = [...failed.map(({ name, error }) => `${name}: ${messageOf(error)}`), ...problems];
    throw new CairnError(statusOf(failed[0]!.error), `scheduler tick at ${result.at} could not start ${failed.length} of ${due.length} due jobs (started ${result.started.length})`, { cause: failed[0]!.error, details });
  }
  if (problems.length > 0) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `scheduler tick at ${result.at} started what was due but could not repair ${problems.length} jobs, reservations or uploads (they are tried again next tick)`, { details: problems });
  }
  return result;
}
