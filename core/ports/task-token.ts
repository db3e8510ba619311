import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * The workflow's handle on one agent task (a Step Functions task token): the
 * agent heartbeats while it works and ends the task once, with its result or
 * its failure. Adapter: the SFN calls of aws/sfn-task-reporter.ts, bound to
 * one token by the agent's entry point.
 *
 * - `heartbeat` rejects with TaskGoneError when the workflow no longer waits
 *   for the task; the agent then stops and ends nothing (nobody listens).
 * - `succeed` sends the result as the Task state's output (JSON).
 * - `fail` ends the task with the error's status code (`Status<code>`) and message.
 * - Any other failure rejects with a CairnError keeping the cause.
 */
export interface TaskToken {
  heartbeat(): Promise<void>;
  succeed(output: unknown): Promise<void>;
  fail(error: unknown): Promise<void>;
}

/**
 * The workflow no longer waits for this task token: it timed out (missed
 * heartbeats, status 41) or its execution ended (stopped by an operator,
 * status 150). The agent should stop the work it does for that task.
 */
export class TaskGoneError extends CairnError {
  readonly reason: 'timed-out' | 'not-found';

  constructor(reason: 'timed-out' | 'not-found', options: { cause?: unknown } = {}) {
    super(
      reason === 'timed-out' ? StatusCode.NETWORK_TIMEOUT : StatusCode.TERMINATED_BY_ADMINISTRATOR,
      reason === 'timed-out' ? 'the workflow gave up on this task (heartbeat or task timeout)' : 'the workflow execution of this task has ended',
      options,
    );
    this.name = 'TaskGoneError';
    this.reason = reason;
  }
}
