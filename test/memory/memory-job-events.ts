import { CairnError } from '#core/errors.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE, type JobEventPublisher, type JobStateChange } from '#core/ports/job-events.ts';
import { StatusCode } from '#core/status-codes.ts';

/** An event as a subscriber receives it: the EventBridge envelope's fields that Cairn sets. */
export interface DeliveredEvent {
  source: string;
  detailType: string;
  detail: unknown;
  /** ISO 8601 to the second, as EventBridge writes `time`. */
  time: string;
}

/**
 * JobEventPublisher in memory, for tests: keeps what it was given as the
 * envelope EventBridge would deliver (detail as a JSON copy). While `failing`
 * is set, publish rejects as the EventBridge adapter does once its retries are spent.
 */
export class MemoryJobEvents implements JobEventPublisher {
  readonly delivered: DeliveredEvent[] = [];
  failing = false;

  async publish(change: JobStateChange): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new CairnError(StatusCode.INTERNAL_ERROR, `the event for job ${change.jobId} was refused (memory publisher set to fail)`);
    this.delivered.push({ source: JOB_EVENT_SOURCE, detailType: JOB_STATE_CHANGE, detail: JSON.parse(JSON.stringify(change)) as unknown, time: `${change.at.slice(0, 19)}Z` });
  }

  /** The changes delivered, in order. */
  get changes(): JobStateChange[] {
    return this.delivered.map((e) => e.detail as JobStateChange);
  }
}
