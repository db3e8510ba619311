import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { ExecutionState, ExecutionStatuses } from '#core/ports/execution-status.ts';
import { errorName } from './aws-errors.ts';

/** Where an execution of the backup-job state machine is: Step Functions' status, and why it failed when it did. */
export type { ExecutionState } from '#core/ports/execution-status.ts';

/**
 * The ARN of the execution `name` of `stateMachineArn`: the same partition,
 * region and account, `execution` for `stateMachine`, the name appended
 * (`arn:<partition>:states:<region>:<account>:execution:<machine>:<name>`).
 */
export function executionArnOf(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length !== 7 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'stateMachine') {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `not a Step Functions state machine ARN: ${stateMachineArn}`);
  }
  parts[5] = 'execution';
  return `${parts.join(':')}:${name}`;
}

/** DescribeExecution of `executionArn`: its state, or undefined while Step Functions does not know it (yet). */
export async function describeExecution(client: SFNClient, executionArn: string): Promise<ExecutionState | undefined> {
  try {
    const out = await client.send(new DescribeExecutionCommand({ executionArn }));
    return { status: out.status ?? 'RUNNING', ...(out.error ? { error: out.error } : {}), ...(out.cause ? { cause: out.cause } : {}) };
  } catch (error) {
    if (errorName(error) === 'ExecutionDoesNotExist') return undefined;
    throw new CairnError(StatusCode.INTERNAL_ERROR, `Step Functions DescribeExecution ${executionArn} failed: ${errorName(error) ?? 'Error'}: ${messageOf(error)}`, { cause: error });
  }
}

/** ExecutionStatuses on Step Functions: DescribeExecution of the execution of that name of one state machine. */
export class SfnExecutionStatuses implements ExecutionStatuses {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(options: { client: SFNClient; stateMachineArn: string }) {
    this.#client = options.client;
    this.#stateMachineArn = options.stateMachineArn;
  }

  describe(executionName: string): Promise<ExecutionState | undefined> {
    return describeExecution(this.#client, executionArnOf(this.#stateMachineArn, executionName));
  }
}
