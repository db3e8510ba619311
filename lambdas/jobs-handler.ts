import { z } from 'zod';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import { finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { taskHandler } from './handler-kit.ts';

const JobsInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({
    action: z.literal('finish'),
    jobId: z.number().int().positive(),
    outcome: z.object({ statusCode: z.number().int().optional(), failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional() }),
  }),
]);

/** The job manager's Task states: Queue and EndJob. */
export function createJobsHandler(deps: { config: ConfigStore; jobs: JobStore; clock: Clock }) {
  return taskHandler(JobsInput, 'jobs', async (input) =>
    input.action === 'queue' ? queueBackupJob(deps, input.request, deps.clock.now()) : finishJob(deps.jobs, input.jobId, input.outcome, deps.clock.now()),
  );
}
