import { z } from 'zod';
import { parseOrThrow } from '#core/validation.ts';
import { readEnvironment, type LambdaEnvironment } from './environment.ts';

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w.-]+$/;

/**
 * What the functions that act on job executions (the scheduler, the
 * janitor) need besides the shared environment: the backup-job state
 * machine's ARN, and the restore-job verify-job and duplicate-job state machines'
 * (optional: without one, that kind's executions are left alone). The names match
 * cdk/constructs/scheduler-function.ts and janitor-function.ts.
 */
const StateMachineEnvironment = z.object({
  STATE_MACHINE_ARN: z.string().regex(STATE_MACHINE_ARN, 'the backup-job state machine ARN'),
  RESTORE_STATE_MACHINE_ARN: z.string().regex(STATE_MACHINE_ARN, 'the restore-job state machine ARN').optional(),
  VERIFY_STATE_MACHINE_ARN: z.string().regex(STATE_MACHINE_ARN, 'the verify-job state machine ARN').optional(),
  DUPLICATE_STATE_MACHINE_ARN: z.string().regex(STATE_MACHINE_ARN, 'the duplicate-job state machine ARN').optional(),
  CATALOG_JOB_STATE_MACHINE_ARN: z.string().regex(STATE_MACHINE_ARN, 'the catalog-job state machine ARN').optional(),
});
export type StateMachineEnvironment = LambdaEnvironment & Readonly<z.output<typeof StateMachineEnvironment>>;

/** Parsed once at cold start; `what` names the function in the error (`invalid scheduler environment: STATE_MACHINE_ARN: ...`). */
export function readStateMachineEnvironment(what: string, env: NodeJS.ProcessEnv = process.env): StateMachineEnvironment {
  return Object.freeze({ ...readEnvironment(env), ...parseOrThrow(StateMachineEnvironment, env, `${what} environment`) });
}
