import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { dueJobs, scheduledRequest } from '#core/schedule/due.ts';
import { loadSettings } from '#core/settings.ts';
import { statusCodeErrors } from './handler-kit.ts';

export interface SchedulerDeps {
  config: ConfigStore;
  catalog: CatalogStore;
  jobs: JobStore;
  starter: ExecutionStarter;
  clock: Clock;
  /** Where each tick's outcome goes (the tick runs as an asynchronous invocation: nobody reads its return value). */
  log?: (level: 'info' | 'error', message: string, data: unknown) => void;
}

export interface TickResult {
  at: string;
  /** Execution names this tick started. */
  started: string[];
  /** Execution names that existed before this tick: a repeated or concurrent tick. */
  alreadyStarted: string[];
  /** How many (policy, client, schedule) were not due, each for a reason `cairn schedule due` shows. */
  notDue: number;
}


/**
 * The scheduler tick (nbpem): core decides what is due, and each due job
 * becomes one backup-job execution named after its (policy, client, schedule,
 * window opening), so a repeated or concurrent tick starts nothing twice.
 * Jobs start in worklist order; one that fails to start does not hold up the
 * others, and the tick then fails naming it (the next tick tries it again).
 */
export function createSchedulerHandler(deps: SchedulerDeps) {
  const tick = async (): Promise<TickResult> => {
    const now = deps.clock.now();
    const [policies, images, jobs, settings] = await Promise.all([
      deps.config.listPolicies(),
      deps.catalog.listImages(),
      deps.jobs.list({ limit: 5000 }),
      loadSettings(deps.config),
    ]);
    const { due, notDue } = dueJobs({ policies, images, jobs, suspended: settings.schedulerSuspended, now });
    const result: TickResult = { at: now.toISOString(), started: [], alreadyStarted: [], notDue: notDue.length };
    const failed: { name: string; error: unknown }[] = [];
    for (const job of due) {
      try {
        const outcome = await deps.starter.start(job.executionName, { request: scheduledRequest(job) });
        (outcome === 'started' ? result.started : result.alreadyStarted).push(job.executionName);
      } catch (error) {
        failed.push({ name: job.executionName, error });
      }
    }
    if (failed.length > 0) {
      const details = failed.map(({ name, error }) => `${name}: ${messageOf(error)}`);
      throw new CairnError(statusOf(failed[0]!.error), `scheduler tick at ${result.at} could not start ${failed.length} of ${due.length} due jobs (started ${result.started.length})`, { cause: failed[0]!.error, details });
    }
    return result;
  };
  const handler = middy(tick).use(statusCodeErrors()).use(tickLog(deps.log));
  return (event?: unknown, context?: Context): Promise<TickResult> => handler(event, context ?? ({} as Context));
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
