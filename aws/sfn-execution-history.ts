import { GetExecutionHistoryCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

/** What an execution's history says it was billed for (Standard workflows). */
export interface BilledTransitions {
  /** State transitions: every state entered, plus every retry of a Task. */
  count: number;
  /** The history events read, for the operator who wants to check the count. */
  events: number;
}

/** The events that start a Task's work: a second one within one state entry is a retry. */
const SCHEDULED = new Set(['LambdaFunctionScheduled', 'TaskScheduled', 'ActivityScheduled']);

/**
 * The state transitions Step Functions bills for these events (in history
 * order). Its pricing page: "Step Functions counts a state transition each
 * time a step of your workflow is executed ... including retries", and "each
 * retry will be charged as an additional state transition". So: one per
 * `...StateEntered` event, plus, within each state entry, one per Task
 * scheduled after the first (Retry re-schedules the Task in the same entry,
 * with no new StateEntered). The backup-job machine has no Parallel or Map
 * state, so entries do not interleave.
 */
export function billedTransitionsOf(events: readonly { type?: string }[]): number {
  let count = 0;
  let scheduledInEntry = 0;
  for (const { type } of events) {
    if (type?.endsWith('StateEntered')) {
      count += 1;
      scheduledInEntry = 0;
    } else if (type !== undefined && SCHEDULED.has(type)) {
      scheduledInEntry += 1;
      if (scheduledInEntry > 1) count += 1;
    }
  }
  return count;
}

/**
 * Reads the execution's whole history (GetExecutionHistory, 1,000 events a
 * page, without the states' data) and counts its billed transitions;
 * undefined when Step Functions does not know the execution (deleted with its
 * state machine, or past the 90 days it keeps ended executions).
 */
export async function billedTransitions(client: SFNClient, executionArn: string): Promise<BilledTransitions | undefined> {
  const events: { type?: string }[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, includeExecutionData: false, nextToken }));
      for (const event of page.events ?? []) events.push({ type: event.type });
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
  } catch (error) {
    if (errorName(error) === 'ExecutionDoesNotExist') return undefined;
    throw new CairnError(StatusCode.INTERNAL_ERROR, `Step Functions GetExecutionHistory ${executionArn} failed: ${errorName(error) ?? 'Error'}: ${messageOf(error)}`, { cause: error });
  }
  return { count: billedTransitionsOf(events), events: events.length };
}
