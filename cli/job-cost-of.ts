import { jobCost, type JobCost } from '#core/cost/job-cost.ts';
import type { Job } from '#core/model/job.ts';
import type { JobUsage } from '#core/model/job-usage.ts';
import type { Backend } from './backend-interface.ts';

/** The job's measured usage priced for its stack's region (`cairn jobs show`, the monitor's job page); undefined on the standalone runtime, which has no cloud cost. */
export async function costOf(backend: Pick<Backend, 'cloudCost'>, job: Job): Promise<{ cost: JobCost; usage: JobUsage } | undefined> {
  if (backend.cloudCost === undefined) return undefined;
  const usage = await backend.cloudCost.usage(job);
  return { usage, cost: jobCost(usage, backend.cloudCost.region) };
}
