import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import { ValidationError } from '#core/errors.ts';
import { type BrokerDeps, releaseResources, reserveResources } from '#core/broker/broker.ts';
import { reserveNextVolume } from '#core/broker/next-volume.ts';
import { VolumeFullOutcome } from '#core/model/tape-task.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const BrokerInput = z.object({
  action: z.enum(['reserve', 'release', 'reserve-next-volume']),
  jobId: z.number().int().positive(),
  /** Release: how the job ends (`$.outcome`), which decides whether a tape drive keeps its volume loaded. */
  outcome: z.object({ statusCode: z.number().int().optional(), failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional() }).optional(),
  /** ReserveNextVolume: the Stream or Continue step's volume-full outcome (`$.result`). */
  full: VolumeFullOutcome.optional(),
});

/** The resource broker's Task states: Reserve, ReserveNextVolume (spanning) and Release. */
export function createBrokerHandler(deps: BrokerDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(
    BrokerInput,
    'broker',
    async (input) => {
      if (input.action === 'reserve') return reserveResources(deps, input.jobId, deps.clock.now());
      if (input.action === 'release') return releaseResources(deps, input.jobId, { now: deps.clock.now(), outcome: input.outcome });
      if (!input.full) throw new ValidationError('invalid broker input', ['full: required for reserve-next-volume (the volume-full outcome)']);
      return reserveNextVolume(deps, input.jobId, input.full, deps.clock.now());
    },
    observability,
  );
}
