import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { endJobOfExecution, type ExecutionJanitorDeps, type JanitorAction } from '#core/jobs/execution-janitor.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { JobKind } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { taskHandler } from './handler-kit.ts';

/**
 * The EventBridge event Step Functions sends when an execution changes
 * status, as the janitor's rule delivers it (ABORTED, TIMED_OUT, FAILED).
 * `error` and `cause` are null when the execution has none.
 */
const ExecutionStatusChange = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    status: z.enum(['ABORTED', 'TIMED_OUT', 'FAILED']),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

export interface JanitorDeps extends ExecutionJanitorDeps {
  clock: Clock;
  /** The backup-job state machine: its executions run backup jobs. */
  stateMachineArn: string;
  /** The restore-job state machine: its executions run restore jobs. Events of any state machine but these two are refused. */
  restoreStateMachineArn?: string;
  /** The verify-job state machine: its executions run verify jobs. */
  verifyStateMachineArn?: string;
  /** The duplicate-job state machine: its executions run duplicate jobs (policy copies). */
  duplicateStateMachineArn?: string;
  /** The catalog-job state machine: its executions run scheduled catalog backups and checks. */
  catalogStateMachineArn?: string;
  /** Where each action goes (EventBridge invokes the function asynchronously: nobody reads its return value). */
  log?: (action: JanitorAction) => void;
}

/**
 * The janitor Lambda: an execution of the backup-job, the restore-job or
 * the verify-job state machine ended ABORTED, TIMED_OUT or FAILED, so its job (of the kind
 * that state machine runs) is ended with the status that means and what it
 * holds is released (core/jobs/execution-janitor.ts).
 */
export function createJanitorHandler(deps: JanitorDeps) {
  // Each state machine given, the kind of job its executions run, and its name in the refusal below (the backup-job one always, first).
  type Machine = [arn: string, kind: JobKind | readonly JobKind[], name: string];
  const optional: [string | undefined, JobKind | readonly JobKind[], string][] = [
    [deps.restoreStateMachineArn, 'restore', 'restore-job'],
    [deps.verifyStateMachineArn, 'verify', 'verify-job'],
    [deps.duplicateStateMachineArn, ['duplicate'], 'duplicate-job'],
    [deps.catalogStateMachineArn, ['catalog-backup', 'catalog-check'], 'catalog-job'],
  ];
  const machines: Machine[] = [[deps.stateMachineArn, 'backup', 'backup-job'], ...optional.filter((m): m is Machine => Boolean(m[0]))];
  const known = machines.map(([arn, , name]) => `the ${name} state machine ${arn}`).join(' or ');
  return taskHandler(ExecutionStatusChange, 'janitor', async ({ detail }) => {
    const kind = machines.find(([arn]) => arn === detail.stateMachineArn)?.[1];
    // An execution of one of our state machines: `arn:<partition>:states:<region>:<account>:execution:<machine>:<name>`.
    const prefix = `${detail.stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
    const executionName = detail.executionArn.slice(prefix.length);
    if (kind === undefined || !detail.executionArn.startsWith(prefix) || executionName === '' || executionName.includes(':')) {
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `execution ${detail.executionArn} is not one of ${known}`);
    }
    const action = await endJobOfExecution(deps, { executionName, kind, status: detail.status, error: detail.error ?? undefined, cause: detail.cause ?? undefined }, deps.clock.now());
    deps.log?.(action);
    return action;
  });
}
