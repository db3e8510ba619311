import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import type { BrokerDeps } from '#core/broker/broker.ts';
import { queueVerifyJob, recordVerifyResult, startVerifyJob } from '#core/jobs/verify-job.ts';
import { planVerifyJob, recordVerifyVolume } from '#core/jobs/verify-tape.ts';
import { reserveVerifyVolume } from '#core/broker/verify-reservation.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const VerifyInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('start'), jobId: z.number().int().positive() }),
  z.object({ action: z.literal('record'), jobId: z.number().int().positive(), result: z.unknown() }),
  z.object({ action: z.literal('plan'), jobId: z.number().int().positive() }),
  z.object({ action: z.literal('reserve'), jobId: z.number().int().positive(), volume: z.number().int().min(0) }),
  z.object({ action: z.literal('recordRead'), jobId: z.number().int().positive(), volume: z.number().int().min(0), result: z.unknown() }),
]);

/**
 * The verify job's own Task states (verify-job.asl.json): Queue, Start and
 * Record for a disk or S3 image; Plan, Reserve (a drive and one volume) and
 * RecordRead for a tape image's volumes. Release and EndJob are the
 * broker's and the job manager's, as in the restore job.
 */
export function createVerifyHandler(deps: BrokerDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(VerifyInput, 'verify', async (input) => {
    const now = deps.clock.now();
    switch (input.action) {
      case 'queue':
        return queueVerifyJob(deps, input.request, now);
      case 'start':
        return startVerifyJob(deps, input.jobId, now);
      case 'record':
        return recordVerifyResult(deps, input.jobId, input.result, now);
      case 'plan':
        return planVerifyJob(deps, input.jobId, now);
      case 'reserve':
        return reserveVerifyVolume(deps, input.jobId, input.volume, now);
      case 'recordRead':
        return recordVerifyVolume(deps, input.jobId, input.volume, input.result, now);
    }
  }, observability);
}
