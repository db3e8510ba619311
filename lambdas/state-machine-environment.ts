import { z } from 'zod';
import { parseOrThrow } from '#core/validation.ts';
import { readEnvironment, type LambdaEnvironment } from './environment.ts';

/**
 * What the functions that act on backup-job executions (the scheduler, the
 * janitor) need besides the shared environment: the state machine's ARN. The
 * name matches cdk/constructs/scheduler-function.ts and janitor-function.ts.
 */
const StateMachineEnvironment = z.object({
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w.-]+$/, 'the backup-job state machine ARN'),
});
export type StateMachineEnvironment = LambdaEnvironment & Readonly<z.output<typeof StateMachineEnvironment>>;

/** Parsed once at cold start; `what` names the function in the error (`invalid scheduler environment: STATE_MACHINE_ARN: ...`). */
export function readStateMachineEnvironment(what: string, env: NodeJS.ProcessEnv = process.env): StateMachineEnvironment {
  return Object.freeze({ ...readEnvironment(env), ...parseOrThrow(StateMachineEnvironment, env, `${what} environment`) });
}
