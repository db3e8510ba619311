import { setTimeout as sleep } from 'node:timers/promises';
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CairnError, messageOf } from '#core/errors.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE, type JobEventPublisher, type JobStateChange } from '#core/ports/job-events.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

export interface EventBridgeJobEventsOptions {
  client: EventBridgeClient;
  /** The event bus; default `default`, the account's default bus (the one the stack grants `events:PutEvents` on). */
  eventBusName?: string;
  /** How often an entry EventBridge refused for a passing reason is sent, in all. Default 3. */
  attempts?: number;
  /** The first pause between those attempts (doubled each time, jittered). Default 100 ms. */
  retryDelayMs?: number;
}

/** Entry error codes that say "try again" (the rest, a malformed or unauthorised entry, will not change). */
const RETRYABLE_ENTRY_ERRORS = new Set(['InternalFailure', 'InternalException', 'ThrottlingException']);

/**
 * JobEventPublisher on EventBridge: one PutEvents entry per change,
 * `source: cairn`, `detail-type: Cairn Job State Change`, the change as
 * `detail`, the change's instant as the event time.
 *
 * Two kinds of failure, retried differently:
 * - the request fails (throttled, a 5xx, the network): the SDK's own retry
 *   (standard mode, 3 attempts with backoff) has already run when it throws,
 *   so it is not retried again here;
 * - the request succeeds but EventBridge refused the entry (FailedEntryCount):
 *   the SDK does not retry that, so it is sent again here, up to `attempts`
 *   in all, when its error code is a passing one.
 * Either way a change that could not be put rejects with a CairnError (2000)
 * naming the job and the reason; PublishingJobStore then reports it and the
 * job goes on. A few hundred milliseconds at most are spent retrying: the
 * Task state that changed the job waits for this.
 */
export class EventBridgeJobEvents implements JobEventPublisher {
  readonly #client: EventBridgeClient;
  readonly #eventBusName: string;
  readonly #attempts: number;
  readonly #retryDelayMs: number;

  constructor(options: EventBridgeJobEventsOptions) {
    this.#client = options.client;
    this.#eventBusName = options.eventBusName ?? 'default';
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#retryDelayMs = options.retryDelayMs ?? 100;
  }

  async publish(change: JobStateChange): Promise<void> {
    const entry: PutEventsRequestEntry = {
      EventBusName: this.#eventBusName,
      Source: JOB_EVENT_SOURCE,
      DetailType: JOB_STATE_CHANGE,
      Detail: JSON.stringify(change),
      Time: new Date(change.at),
    };
    const what = `job ${change.jobId} ${change.previousState ?? 'new'} → ${change.state}`;
    for (let attempt = 1; ; attempt++) {
      let refused: { code: string; message: string };
      try {
        const answer = await this.#client.send(new PutEventsCommand({ Entries: [entry] }));
        const result = answer.Entries?.[0];
        if (!answer.FailedEntryCount && result?.EventId !== undefined) return;
        refused = { code: result?.ErrorCode ?? 'NoEventId', message: result?.ErrorMessage ?? 'EventBridge returned no event id' };
      } catch (error) {
        throw new CairnError(StatusCode.INTERNAL_ERROR, `EventBridge PutEvents on bus ${this.#eventBusName} failed for ${what}: ${errorName(error) ?? 'Error'}: ${messageOf(error)}`, { cause: error });
      }
      if (!RETRYABLE_ENTRY_ERRORS.has(refused.code) || attempt >= this.#attempts) {
        throw new CairnError(StatusCode.INTERNAL_ERROR, `EventBridge refused the event for ${what} (attempt ${attempt} of ${this.#attempts}): ${refused.code}: ${refused.message}`);
      }
      const ceiling = this.#retryDelayMs * 2 ** (attempt - 1);
      await sleep(Math.floor(ceiling / 2 + Math.random() * (ceiling / 2)));
    }
  }
}
