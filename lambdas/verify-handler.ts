import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import { queueVerifyJob, recordVerifyResult, startVerifyJob, type VerifyJobDeps } from '#core/jobs/verify-job.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const VerifyInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('start'), jobId: z.number().int().positive() }),
  z.object({ action: z.literal('record'), jobId: z.number().int().positive(), result: z.unknown() }),
]);

/** The verify job's own Task states (verify-job.asl.json): Queue, Start and Record. EndJob is the job manager's. */
export function createVerifyHandler(deps: VerifyJobDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(VerifyInput, 'verify', async (input) => {
    const now = deps.clock.now();
    switch (input.action) {
      case 'queue':
        return queueVerifyJob(deps, input.request, now);
      case 'start':
        return startVerifyJob(deps, input.jobId, now);
      case 'record':
        return recordVerifyResult(deps, input.jobId, input.result, now);
    }
  }, observability);
}
