import { z } from 'zod';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import { decideRetry, finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const Outcome = z.object({ statusCode: z.number().int().optional(), failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional() });
const JobsInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('decideRetry'), jobId: z.number().int().positive(), outcome: Outcome }),
  z.object({ action: z.literal('finish'), jobId: z.number().int().positive(), outcome: Outcome }),
]);

/** The job manager's Task states: Queue, RetryDecision and EndJob. */
export function createJobsHandler(deps: { config: ConfigStore; jobs: JobStore; clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(JobsInput, 'jobs', async (input) => {
    switch (input.action) {
      case 'queue':
        return queueBackupJob(deps, input.request, deps.clock.now());
      case 'decideRetry':
        return decideRetry(deps, input.jobId, input.outcome, deps.clock.now());
      case 'finish':
        return finishJob(deps.jobs, input.jobId, input.outcome, deps.clock.now());
    }
  }, observability);
}
