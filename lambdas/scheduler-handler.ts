import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { CairnError, messageOf } from '#core/errors.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { schedulerTick, type TickDeps, type TickResult } from '#core/schedule/tick.ts';
import { statusCodeErrors } from './handler-kit.ts';

export type { TickResult } from '#core/schedule/tick.ts';

export interface SchedulerDeps {
  config: ConfigStore;
  catalog: CatalogStore;
  jobs: JobStore;
  starter: ExecutionStarter;
  /** Given, each tick also sweeps: jobs whose execution is gone or no longer running end, stranded reservations are released. */
  sweep?: TickDeps['sweep'];
  clock: Clock;
  /** Where each tick's outcome goes (the tick runs as an asynchronous invocation: nobody reads its return value). */
  log?: (level: 'info' | 'error', message: string, data: unknown) => void;
}

/**
 * The scheduler Lambda: one core scheduler tick (core/schedule/tick.ts) per
 * invocation, starting Step Functions executions, then (with `sweep`)
 * repairing jobs whose execution ended without ending them; a tick that could
 * not start some due job, or not repair something, fails as `Status<code>`,
 * and its outcome is logged either way.
 */
export function createSchedulerHandler(deps: SchedulerDeps) {
  const tick = (): Promise<TickResult> => schedulerTick(deps, deps.clock.now());
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
