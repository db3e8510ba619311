/**
 * The metrics the Lambdas publish, in the `Cairn` namespace (Powertools
 * Metrics, embedded metric format, with Powertools' `service` dimension).
 * cdk/constructs/monitoring.ts alarms on them by the same names;
 * test/cdk/monitoring.test.ts checks the two lists agree.
 */
export const METRICS_NAMESPACE = 'Cairn';

export const Metric = {
  /** A job ended (→ DONE), with dimension `StatusClass`: `success` (0), `partial` (1) or `failed` (any other status). */
  JobsEnded: 'JobsEnded',
  /** A job state change that could not be published to EventBridge after retrying (the job itself went on). */
  JobEventsNotPublished: 'JobEventsNotPublished',
  /** 1 when a scheduler tick failed (some due job could not be started, or the stores could not be read), 0 when it ran. */
  SchedulerTickFailed: 'SchedulerTickFailed',
  /** Executions a scheduler tick started. */
  JobsStartedByTick: 'JobsStartedByTick',
  /** Recent jobs still QUEUED more than five minutes after their window closed (core/jobs/queued-past-window.ts), at each tick. */
  JobsQueuedPastWindow: 'JobsQueuedPastWindow',
} as const;

/** The `StatusClass` dimension of JobsEnded. */
export function statusClassOf(statusCode: number | undefined): 'success' | 'partial' | 'failed' {
  return statusCode === 0 ? 'success' : statusCode === 1 ? 'partial' : 'failed';
}
