import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { CairnError, messageOf, statusOf, toWorkflowError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';

/**
 * Step Functions matches errors by name. A CairnError leaves the Lambda as an
 * Error named `Status<code>` (e.g. `Status219`), so the workflow and the job
 * record see the NetBackup status code, with the message as the cause.
 */
export function statusCodeErrors(): MiddlewareObj {
  return {
    onError: async (request) => {
      request.error = toWorkflowError(request.error) as Error;
    },
  };
}

/**
 * What a handler reports besides its result: structured logs and metrics.
 * In the Lambdas it is Powertools (lambdas/observability.ts, wired by the
 * entry files only); the standalone runtime and the tests pass none, so they
 * never load Powertools and run the handler exactly as before.
 */
export interface HandlerObservability {
  /** Wrap every invocation, outermost first: Powertools' Lambda context in the logs, the X-Ray segment, the metrics flush. */
  readonly middlewares: readonly MiddlewareObj[];
  /** Keys on every later log record of this invocation (jobId, executionName). */
  appendKeys(keys: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
  /** Adds `value` to a metric of the Cairn namespace, with `dimensions` on that metric alone when given. */
  count(metric: string, value?: number, dimensions?: Record<string, string>): void;
}

/** The keys that tie a log record to a job: from the input (`jobId`, a queued request's `executionName`) or a result that names the job. */
export function jobKeysOf(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return {};
  const record = value as { jobId?: unknown; executionName?: unknown; action?: unknown; request?: { executionName?: unknown } };
  const keys: Record<string, unknown> = {};
  if (typeof record.jobId === 'number') keys.jobId = record.jobId;
  const executionName = record.executionName ?? record.request?.executionName;
  if (typeof executionName === 'string') keys.executionName = executionName;
  return keys;
}

/**
 * One log record per invocation, carrying the job's keys: INFO with the
 * action when it succeeds, ERROR with the status code when it fails (used
 * after statusCodeErrors, so it sees the CairnError itself). Returns nothing:
 * a value a middy hook returns replaces the response.
 */
function jobLog(name: string, observability: HandlerObservability): MiddlewareObj {
  const actionOf = (event: unknown): unknown => (typeof event === 'object' && event !== null ? (event as { action?: unknown }).action : undefined);
  return {
    before: async (request) => {
      observability.appendKeys(jobKeysOf(request.event));
    },
    after: async (request) => {
      observability.appendKeys(jobKeysOf(request.response));
      observability.info(`${name} ${String(actionOf(request.event) ?? 'task')}`);
    },
    onError: async (request) => {
      const error = request.error;
      observability.error(`${name} ${String(actionOf(request.event) ?? 'task')} failed`, {
        statusCode: statusOf(error),
        error: messageOf(error),
        ...(error instanceof CairnError && error.details.length > 0 ? { details: error.details } : {}),
      });
    },
  };
}

export type TaskHandler<I, O> = (event: I, context?: Context) => Promise<O>;

/** validate → one core call → map result: the shape every Cairn handler has. */
export function taskHandler<S extends z.ZodType, O>(schema: S, name: string, run: (input: z.output<S>) => Promise<O>, observability?: HandlerObservability): TaskHandler<unknown, O> {
  const handler = middy(async (event: unknown) => run(parseOrThrow(schema, event, `${name} input`)));
  // Powertools outermost; jobLog innermost, so its onError (middy unwinds in reverse) sees the CairnError before statusCodeErrors renames it.
  if (observability) handler.use([...observability.middlewares]);
  handler.use(statusCodeErrors());
  if (observability) handler.use(jobLog(name, observability));
  return (event, context) => handler(event, context ?? ({} as Context));
}
