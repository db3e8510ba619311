import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { CairnError, messageOf } from '#core/errors.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ExecutionStarter, StartOutcome } from '#core/ports/execution-starter.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

export interface SfnExecutionStarterOptions {
  client: SFNClient;
  stateMachineArn: string;
  /**
   * When the request is sent; compared with the start date Step Functions
   * answers with. Default: the host's wall clock, which an adapter may read
   * (core/ may not); tests pass a FakeClock.
   */
  clock?: Clock;
}

/**
 * How much older than our request an answered start date must be to count as
 * an earlier execution's: well above the clock skew between Lambda and Step
 * Functions (both NTP-synchronised), well below a scheduler tick.
 */
export const EARLIER_START_TOLERANCE_MS = 5_000;

/**
 * ExecutionStarter on a STANDARD Step Functions state machine. Execution names
 * are unique per state machine for 90 days after an execution closes, which
 * gives the port's at-most-once by name:
 *
 * - a name that is free: a new execution ('started');
 * - the name of a RUNNING execution with identical input: Step Functions
 *   succeeds and answers with that execution's ARN and start date. A start date
 *   older than this request (beyond EARLIER_START_TOLERANCE_MS) means it was
 *   started before: 'already-started';
 * - the name of a closed execution, or of one with a different input:
 *   ExecutionAlreadyExists, which is 'already-started' too.
 */
export class SfnExecutionStarter implements ExecutionStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;
  readonly #clock: Clock;

  constructor(options: SfnExecutionStarterOptions) {
    this.#client = options.client;
    this.#stateMachineArn = options.stateMachineArn;
    this.#clock = options.clock ?? { now: () => new Date() };
  }

  async start(name: string, input: unknown): Promise<StartOutcome> {
    const sentAt = this.#clock.now().getTime();
    try {
      const { startDate } = await this.#client.send(new StartExecutionCommand({ stateMachineArn: this.#stateMachineArn, name, input: JSON.stringify(input ?? null) }));
      return startDate !== undefined && startDate.getTime() < sentAt - EARLIER_START_TOLERANCE_MS ? 'already-started' : 'started';
    } catch (error) {
      const errorType = errorName(error);
      if (errorType === 'ExecutionAlreadyExists') return 'already-started';
      const status = errorType === 'InvalidName' || errorType === 'InvalidExecutionInput' ? StatusCode.INVALID_COMMAND_USAGE : StatusCode.INTERNAL_ERROR;
      throw new CairnError(status, `Step Functions StartExecution ${name} on ${this.#stateMachineArn} failed: ${errorType ?? 'Error'}: ${messageOf(error)}`, { cause: error });
    }
  }
}
