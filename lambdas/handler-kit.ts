import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { toWorkflowError } from '#core/errors.ts';
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

export type TaskHandler<I, O> = (event: I, context?: Context) => Promise<O>;

/** validate → one core call → map result: the shape every Cairn handler has. */
export function taskHandler<S extends z.ZodType, O>(schema: S, name: string, run: (input: z.output<S>) => Promise<O>): TaskHandler<unknown, O> {
  const handler = middy(async (event: unknown) => run(parseOrThrow(schema, event, `${name} input`))).use(statusCodeErrors());
  return (event, context) => handler(event, context ?? ({} as Context));
}
