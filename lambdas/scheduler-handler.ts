import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { CairnError, messageOf } from '#core/errors.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { queuedPastWindow } from '#core/jobs/queued-past-window.ts';
import { schedulerTick, type TickDeps, type TickHooks, type TickResult as CoreTickResult } from '#core/schedule/tick.ts';
import { unloadIdleDrivesThroughAgent, type AgentIdleUnloadDeps, type AgentIdleUnloadReport } from '#core/media/idle-unload.ts';
import { advanceParents, type StreamDeps, type StreamsReport } from '#core/jobs/stream-advance.ts';
import { dueVerifies, scheduledVerifyRequest } from '#core/schedule/verify-due.ts';
import { dueRehearsals, scheduledRehearsalRequest } from '#core/schedule/rehearsal-due.ts';
import type { DueInput } from '#core/schedule/due.ts';
import { startExecutions, type StartsReport } from '#core/schedule/start-executions.ts';
import { DEFAULT_EXPIRATIONS_PER_TICK, runExpiration, type ExpirationDeps, type ExpirationRun } from '#core/catalog/expire-images.ts';
import { statusCodeErrors, type HandlerObservability } from './handler-kit.ts';
import { recordFinishedJob } from '#core/jobs/lifecycle-job.ts';
import { cleanupDidSomething, cleanupFields, cleanupOutcome } from '#core/jobs/lifecycle-outcomes.ts';
import { Metric } from './metric-names.ts';
import { startDueDuplicates, type DuplicatesReport } from '#core/schedule/duplicate-starts.ts';
import { startCatalogJobs, type CatalogJobsReport } from './catalog-job-starts.ts';

/** The core tick's result, and what the idle drive unload did (when the scheduler has one). */
export type TickResult = CoreTickResult & { idleUnload?: AgentIdleUnloadReport; streams?: StreamsReport; expiration?: ExpirationRun; verifies?: VerifiesReport; duplicates?: DuplicatesReport; catalogJobs?: CatalogJobsReport };

/** The scheduled verifies a tick started (execution names), and those it could not start (tried again next tick). */
export type VerifiesReport = StartsReport;

export interface SchedulerDeps {
  config: ConfigStore;
  catalog: CatalogStore;
  jobs: JobStore;
  starter: ExecutionStarter;
  /** Given, each tick also sweeps: jobs whose execution is gone or no longer running end, stranded reservations are released. */
  sweep?: TickDeps['sweep'];
  /**
   * Given, each tick first unloads the tape drives kept loaded past their
   * unit's mediaUnmountDelaySeconds through their robot's agent, and records
   * those the agent has unloaded since (core/media/idle-unload.ts). Its
   * problems are logged at ERROR level and never fail the tick (the next
   * tick tries again), as in the standalone runtime.
   */
  idleUnload?: Omit<AgentIdleUnloadDeps, 'config' | 'jobs'>;
  /**
   * Given, each tick then advances the multiple-data-streams parents
   * (core/jobs/stream-advance.ts: the savefs probe's answer, streams started
   * within the limits, parents ended); `starter` should then be
   * `multiStreamStarter` around the same backup-job starter. Problems are
   * logged and tried again at the next tick.
   */
  streams?: Omit<StreamDeps, 'config' | 'jobs'>;
  /**
   * Given, each tick ends with the cleanup (core/catalog/expire-images.ts):
   * at most `maxImages` images past their retention that nothing needs are
   * expired (their S3 objects deleted, tape volumes emptied of them and
   * returned to scratch), as the standalone tick does. Its problems are
   * logged at ERROR level and tried again at the next tick, never failing it.
   */
  expiration?: Omit<ExpirationDeps, 'catalog' | 'config' | 'jobs'> & { maxImages?: number };
  /**
   * Given, each tick also starts the verifies due (core/schedule/verify-due.ts,
   * decided from what the backup decision read) as executions of the
   * verify-job state machine, as the standalone tick does
   * (local/verify-starter.ts). A verify that cannot be started is logged at
   * ERROR level and tried again at the next tick, never failing it.
   */
  verifies?: ExecutionStarter;
  /**
   * Given, each tick also starts the policy copies due (core/schedule/duplicate-starts.ts)
   * as executions of the duplicate-job state machine, a few per tick, one
   * name per (image, unit, attempt). A copy that cannot be started is
   * logged at ERROR level and tried again at the next tick, never failing it.
   */
  duplicates?: ExecutionStarter;
  /**
   * Given, each tick also starts the catalog backup and the catalog check
   * due (a policy's `catalogBackup`, `catalogCheck`) as executions of the
   * catalog-job state machine (lambdas/catalog-job-starts.ts). One that
   * cannot be started is logged at ERROR level and tried again next tick.
   */
  catalogJobs?: ExecutionStarter;
  clock: Clock;
  /** Where each tick's outcome goes (the tick runs as an asynchronous invocation: nobody reads its return value). */
  log?: (level: 'info' | 'error', message: string, data: unknown) => void;
  /** The Lambda's Powertools (lambdas/observability.ts): the tick's metrics. Absent in the standalone runtime. */
  observability?: HandlerObservability;
}

/**
 * The scheduler Lambda: one core scheduler tick (core/schedule/tick.ts) per
 * invocation, starting Step Functions executions, then (with `sweep`)
 * repairing jobs whose execution ended without ending them; a tick that could
 * not start some due job, or not repair something, fails as `Status<code>`,
 * and its outcome is logged either way.
 */
export function createSchedulerHandler(deps: SchedulerDeps) {
  const { observability } = deps;
  const tick = async (_event: unknown, context: Context): Promise<TickResult> => {
    const now = deps.clock.now();
    // The owner of the jobs this invocation runs itself (the cleanup's): the sweep ends one the invocation left once its time limit has passed.
    const owner = `lambda:scheduler:${context.awsRequestId ?? 'unknown'}`;
    // First, so the jobs this tick starts find the robot settled (as local/scheduler-tick.ts does).
    const idleUnload = deps.idleUnload ? await unloadIdle(deps, deps.idleUnload, now) : undefined;
    // Counted from the jobs the due decision reads anyway: no second read of the Jobs table.
    let dueInput: DueInput | undefined;
    const hooks: TickHooks = {
      onDueInput: (input) => {
        dueInput = input;
        observability?.count(Metric.JobsQueuedPastWindow, queuedPastWindow(input.jobs, now).length);
      },
    };
    const result = await schedulerTick(deps, now, hooks);
    const verifies = deps.verifies && dueInput ? await startVerifies(deps.verifies, dueInput) : undefined;
    if (verifies && verifies.problems.length > 0) deps.log?.('error', 'scheduled verifies could not all be started (tried again next tick)', verifies);
    const duplicates = deps.duplicates && dueInput ? await startDueDuplicates({ starter: deps.duplicates, jobs: deps.jobs, units: deps.config, ...(deps.sweep?.duplicateExecutions ? { executions: deps.sweep.duplicateExecutions } : {}) }, dueInput) : undefined;
    if (duplicates && duplicates.problems.length > 0) deps.log?.('error', 'policy copies could not all be started (tried again next tick)', duplicates);
    const catalogJobs = deps.catalogJobs && dueInput ? await startCatalogJobs(deps.catalogJobs, dueInput) : undefined;
    if (catalogJobs && catalogJobs.problems.length > 0) deps.log?.('error', 'scheduled catalog jobs could not all be started (tried again next tick)', catalogJobs);
    const streams = deps.streams ? await advanceParents({ ...deps.streams, config: deps.config, jobs: deps.jobs }, now).catch((error: unknown): StreamsReport => ({ ended: [], started: [], problems: [`multiple-data-streams parents could not be looked at: ${messageOf(error)}`] })) : undefined;
    if (streams && streams.problems.length > 0) deps.log?.('error', 'multiple-data-streams parents could not all be advanced (tried again next tick)', streams);
    const expiration = deps.expiration ? await expire(deps, deps.expiration, now, owner) : undefined;
    return { ...result, ...(idleUnload ? { idleUnload } : {}), ...(streams ? { streams } : {}), ...(expiration ? { expiration } : {}), ...(verifies ? { verifies } : {}), ...(duplicates ? { duplicates } : {}), ...(catalogJobs ? { catalogJobs } : {}) };
  };
  const handler = middy(tick);
  if (observability) handler.use([...observability.middlewares, tickMetrics(observability)]);
  handler.use(statusCodeErrors()).use(tickLog(deps.log));
  return (event?: unknown, context?: Context): Promise<TickResult> => handler(event, context ?? ({} as Context));
}

/** Starts the verifies and restore rehearsals due after the backups, each by its execution name (two ticks start it once); failures are reported, not thrown. */
function startVerifies(starter: ExecutionStarter, input: DueInput): Promise<VerifiesReport> {
  // Restore rehearsals (a policy's `rehearsal`) run on the verify-job state machine too.
  const due = [...dueVerifies(input).due.map((job) => ({ job, request: scheduledVerifyRequest(job) })), ...dueRehearsals(input).due.map((job) => ({ job, request: scheduledRehearsalRequest(job) }))];
  return startExecutions(starter, due.map(({ job, request }) => ({ executionName: job.executionName, request, label: 'verify' })));
}

/** The idle unload step; what went wrong is reported and logged, never thrown (the due jobs must still start). */
async function unloadIdle(deps: SchedulerDeps, unload: NonNullable<SchedulerDeps['idleUnload']>, now: Date): Promise<AgentIdleUnloadReport> {
  const report = await unloadIdleDrivesThroughAgent({ ...unload, config: deps.config, jobs: deps.jobs }, now).catch(
    (error: unknown): AgentIdleUnloadReport => ({ sent: [], unloaded: [], pending: [], problems: [`idle drives could not be looked at: ${messageOf(error)}`] }),
  );
  if (report.problems.length > 0) deps.log?.('error', 'idle drive unload', report);
  return report;
}

/** The cleanup step; what went wrong is reported and logged, never thrown (the next tick tries again). */
async function expire(deps: SchedulerDeps, expiration: NonNullable<SchedulerDeps['expiration']>, now: Date, owner: string): Promise<ExpirationRun> {
  const { maxImages = DEFAULT_EXPIRATIONS_PER_TICK, ...ports } = expiration;
  const run = await runExpiration({ ...ports, catalog: deps.catalog, config: deps.config, jobs: deps.jobs }, now, { maxImages }).catch(
    (error: unknown): ExpirationRun => ({ expired: [], kept: [], deferred: 0, recycled: [], problems: [`the cleanup could not run: ${messageOf(error)}`] }),
  );
  // A cleanup that did or failed something is an image-cleanup job (as the standalone tick's): `cairn jobs`, the report.
  if (cleanupDidSomething(run)) {
    await recordFinishedJob({ jobs: deps.jobs, now: () => deps.clock.now(), owner }, 'image-cleanup', cleanupFields('tick'), now, cleanupOutcome(run)).catch((error: unknown) =>
      run.problems.push(`the cleanup's job could not be recorded: ${messageOf(error)}`),
    );
  }
  if (run.problems.length > 0) deps.log?.('error', 'image expiration (tried again next tick)', run);
  return run;
}

/**
 * Logs each tick's outcome. Its onError runs before statusCodeErrors' does, so it
 * sees the CairnError with its details. Returns nothing: in middy, a value a
 * middleware returns replaces the response.
 */
function tickLog(log: SchedulerDeps['log']): MiddlewareObj<unknown, TickResult> {
  return {
    after: async (request) => {
      log?.('info', 'scheduler tick', request.response);
    },
    onError: async (request) => {
      const error = request.error;
      log?.('error', 'scheduler tick failed', { message: messageOf(error), details: error instanceof CairnError ? error.details : [] });
    },
  };
}

/** The tick's metrics: executions started, and whether it failed (0 or 1, so the alarm's metric always has data while ticks run). */
function tickMetrics(observability: HandlerObservability): MiddlewareObj<unknown, TickResult> {
  return {
    after: async (request) => {
      observability.count(Metric.JobsStartedByTick, request.response?.started.length ?? 0);
      observability.count(Metric.SchedulerTickFailed, 0);
    },
    onError: async () => {
      observability.count(Metric.SchedulerTickFailed, 1);
    },
  };
}
