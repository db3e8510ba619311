import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import type { BrokerDeps } from '#core/broker/broker.ts';
import type { RestorePlanner } from '#core/ports/restore-planner.ts';
import { reserveRestoreVolume } from '#core/broker/restore-reservation.ts';
import { fallBackToNextCopy, planRestoreJob, queueRestoreJob, recordVolumeRead } from '#core/jobs/restore-job.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const RestoreInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('plan'), jobId: z.number().int().positive() }),
  z.object({ action: z.literal('reserve'), jobId: z.number().int().positive(), volume: z.number().int().min(0) }),
  z.object({ action: z.literal('recordRead'), jobId: z.number().int().positive(), volume: z.number().int().min(0), result: z.unknown() }),
  z.object({ action: z.literal('nextCopy'), jobId: z.number().int().positive(), failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }) }),
]);

/**
 * The restore job's own Task states (restore-job.asl.json): Queue, Plan,
 * Reserve (a drive and one volume), RecordRead and NextCopy (after a copy
 * failed: the job turned to its next copy on tape, or not). Release and EndJob are
 * the broker's and the job manager's, as in the backup job. `planner`
 * (where the image's index can be read) narrows Plan to the needed volumes.
 */
export function createRestoreHandler(deps: BrokerDeps & { clock: Clock; planner?: RestorePlanner }, observability?: HandlerObservability) {
  return taskHandler(RestoreInput, 'restore', async (input) => {
    const now = deps.clock.now();
    switch (input.action) {
      case 'queue':
        return queueRestoreJob(deps, input.request, now);
      case 'plan':
        return planRestoreJob(deps, input.jobId, now);
      case 'reserve':
        return reserveRestoreVolume(deps, input.jobId, input.volume, now);
      case 'recordRead':
        return recordVolumeRead(deps, input.jobId, input.volume, input.result, now);
      case 'nextCopy':
        return fallBackToNextCopy(deps, input.jobId, input.failure, now);
    }
  }, observability);
}
