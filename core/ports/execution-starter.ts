import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/** What starting a named workflow execution came to. */
export type StartOutcome = 'started' | 'already-started';

/**
 * Starts backup-job workflow executions by name (nbpem handing a job to nbjm).
 *
 * Contract:
 * - Idempotent by name: however often, and however concurrently, `start` is
 *   called with one name, at most one execution of that name ever runs. This
 *   is what makes a scheduler tick safe to repeat: the name is derived from
 *   (policy, client, schedule, due instant).
 * - 'started' when this call started the execution; 'already-started' when an
 *   execution of that name existed before it (running, finished, or started
 *   with a different input). Two calls racing may both see 'started' where
 *   the backing cannot tell them apart; only one execution exists all the same.
 * - `input` is serialised as JSON and becomes the execution's input.
 * - Any other failure (unknown workflow, throttling beyond the client's own
 *   retries, invalid name) rejects with a CairnError keeping the cause. Such a
 *   call is safe to retry with the same name and input.
 */
export interface ExecutionStarter {
  start(name: string, input: unknown): Promise<StartOutcome>;
}

/** The names Step Functions accepts: 1 to 80 of [A-Za-z0-9._-] (names from `executionNameFor` keep to these). */
const EXECUTION_NAME = /^[A-Za-z0-9._-]{1,80}$/;

/**
 * Refuses, with status 20, a name Step Functions would refuse, so the
 * standalone and in-memory starters answer as the service does.
 */
export function assertExecutionName(name: string): void {
  if (!EXECUTION_NAME.test(name)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `execution name ${JSON.stringify(name)} is not 1 to 80 of [A-Za-z0-9._-]`);
}
