import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import { queueDuplicateJob, recordDuplicateCopy, startDuplicateJob, type DuplicateJobDeps } from '#core/jobs/duplicate-job.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const DuplicateInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('start'), jobId: z.number().int().positive() }),
  z.object({ action: z.literal('record'), jobId: z.number().int().positive(), result: z.unknown() }),
]);

/**
 * The duplicate job's own Task states (duplicate-job.asl.json): Queue, Start
 * and Record (the copy the agent wrote, catalogued in one compare-and-set).
 * The Copy step is the agent's; EndJob is the job manager's.
 */
export function createDuplicateHandler(deps: DuplicateJobDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(DuplicateInput, 'duplicate', async (input) => {
    const now = deps.clock.now();
    switch (input.action) {
      case 'queue':
        return queueDuplicateJob(deps, input.request, now);
      case 'start':
        return startDuplicateJob(deps, input.jobId, now);
      case 'record':
        return recordDuplicateCopy(deps, input.jobId, input.result, now);
    }
  }, observability);
}
