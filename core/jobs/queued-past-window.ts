import type { Job } from '../model/job.ts';

/**
 * How long after its window closed a QUEUED job may still be waiting before
 * it counts as stuck. The workflow's resource wait wakes up when the window
 * closes (core/broker/broker.ts) and ends the job 196 within seconds; five
 * minutes covers a cold start, the Lambda's own retries and a tick that
 * reads the jobs a moment before that end is written.
 */
export const QUEUED_PAST_WINDOW_GRACE_SECONDS = 300;

/**
 * The QUEUED jobs whose window closed more than `graceSeconds` before `now`:
 * nothing is going to run them (their workflow is gone or stuck), and they
 * hold the place of the next due job of their schedule. The scheduler tick
 * counts them as the `JobsQueuedPastWindow` metric, which an alarm watches.
 * Jobs without a window (manual backups, restores) never count.
 */
export function queuedPastWindow(jobs: readonly Job[], now: Date, graceSeconds: number = QUEUED_PAST_WINDOW_GRACE_SECONDS): Job[] {
  const closedBefore = now.getTime() - graceSeconds * 1000;
  return jobs.filter((job) => job.state === 'QUEUED' && job.type === 'backup' && job.windowEnd !== undefined && Date.parse(job.windowEnd) <= closedBefore);
}
