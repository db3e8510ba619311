import { messageOf } from '#core/errors.ts';
import type { PublishFailureHandler } from '#core/jobs/publishing-job-store.ts';
import type { JobEventPublisher } from '#core/ports/job-events.ts';
import type { HandlerObservability } from './handler-kit.ts';
import { Metric, statusClassOf } from './metric-names.ts';

/** Counts each job end (JobsEnded, by status class) as its change goes out, whether or not it can be published. */
export function countingJobEnds(events: JobEventPublisher, observability: HandlerObservability | undefined): JobEventPublisher {
  if (observability === undefined) return events;
  return {
    publish: async (change) => {
      if (change.state === 'DONE') observability.count(Metric.JobsEnded, 1, { StatusClass: statusClassOf(change.statusCode) });
      await events.publish(change);
    },
  };
}

/**
 * A change EventBridge did not take, after the adapter's retries: an ERROR
 * record naming the job and a JobEventsNotPublished count (an alarm watches
 * it). The job itself has been written and goes on.
 */
export function reportUnpublished(observability: HandlerObservability | undefined): PublishFailureHandler {
  return (change, error) => {
    const data = { jobId: change.jobId, state: change.state, previousState: change.previousState, error: messageOf(error) };
    if (observability === undefined) {
      console.error(JSON.stringify({ level: 'ERROR', message: 'job state change not published', ...data }));
      return;
    }
    observability.error('job state change not published', data);
    observability.count(Metric.JobEventsNotPublished, 1);
  };
}
