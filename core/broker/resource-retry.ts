/**
 * How long a queued job sleeps before it asks the broker for resources again.
 *
 * Why it backs off: every ask is a turn of the backup-job workflow's
 * Reserve → Granted? → WaitForResources loop, nine history events in Step
 * Functions, whose executions end at 25,000 events. Asking every 30 s, a job
 * waiting for a busy storage unit used that up in about 23 hours, well inside
 * the workflow's 8-day timeout, and ended still QUEUED. Backing off to an
 * eighth of the time already waited, at most MAX_RESOURCE_RETRY_SECONDS,
 * keeps the first minutes as responsive as before and the whole 8 days under
 * a third of the limit (test/core/resource-retry.test.ts counts it).
 */
export const MAX_RESOURCE_RETRY_SECONDS = 15 * 60;

/** After `waitedSeconds` of waiting, with the `resourceRetrySeconds` setting as `baseSeconds`: the next sleep, in whole seconds. */
export function resourceRetrySeconds(baseSeconds: number, waitedSeconds: number): number {
  return Math.max(baseSeconds, Math.min(MAX_RESOURCE_RETRY_SECONDS, Math.floor(Math.max(0, waitedSeconds) / 8)));
}

/** When the job's current wait began: when it was queued, or when its last failed attempt ended (a retry queues it again). */
export function waitingSince(job: { queuedAt: string; attempts?: ReadonlyArray<{ endedAt: string }> }): Date {
  const queued = Date.parse(job.queuedAt);
  const lastEnded = job.attempts?.length ? Date.parse(job.attempts[job.attempts.length - 1]!.endedAt) : Number.NEGATIVE_INFINITY;
  return new Date(Math.max(queued, lastEnded));
}
