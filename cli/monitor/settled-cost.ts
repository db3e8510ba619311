import type { JobUsage } from '#core/model/job-usage.ts';
import type { MonitorBackend } from './route.ts';

/**
 * How long after a job's last change its measured usage is taken as final.
 * The Lambda that ends a job records its own usage in the same invocation
 * (lambdas/usage-recording.ts), and the execution's last transitions follow
 * within seconds; five minutes leaves a wide margin.
 */
export const SETTLED_AFTER_MS = 5 * 60_000;
/** How many settled jobs' usage one monitor keeps (the oldest kept is dropped first). */
export const MAX_SETTLED = 1000;

type CloudCost = NonNullable<MonitorBackend['cloudCost']>;

/**
 * The backend's cost reader, keeping the usage of jobs that have settled
 * (DONE, unchanged for SETTLED_AFTER_MS) for as long as their record stays
 * unchanged. A job's page is read again on every change of the job list
 * while it is open; on a deployed stack each read of the usage pages
 * through the execution's whole history (GetExecutionHistory, a call of
 * Step Functions' small per-account quota the scheduler and janitor also
 * use), which for an ended job can no longer change. A running or recently
 * ended job is read each time. A failed read is not kept.
 */
export function settledCost(cloudCost: CloudCost, now: () => Date): CloudCost {
  const kept = new Map<number, { updatedAt: string; usage: JobUsage }>();
  return {
    region: cloudCost.region,
    usage: async (job) => {
      const hit = kept.get(job.jobId);
      if (hit !== undefined && hit.updatedAt === job.updatedAt) return hit.usage;
      const usage = await cloudCost.usage(job);
      if (job.state === 'DONE' && now().getTime() - Date.parse(job.updatedAt) >= SETTLED_AFTER_MS) {
        kept.delete(job.jobId);
        if (kept.size >= MAX_SETTLED) kept.delete(kept.keys().next().value!);
        kept.set(job.jobId, { updatedAt: job.updatedAt, usage });
      }
      return usage;
    },
  };
}

/** The backend with its cost reader keeping settled jobs' usage (unchanged when it has no cloud cost: the standalone runtime). */
export function withSettledCost(backend: MonitorBackend): MonitorBackend {
  return backend.cloudCost === undefined ? backend : { ...backend, cloudCost: settledCost(backend.cloudCost, () => backend.clock.now()) };
}
