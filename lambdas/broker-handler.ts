import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import { type BrokerDeps, releaseResources, reserveResources } from '#core/broker/broker.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const BrokerInput = z.object({
  action: z.enum(['reserve', 'release']),
  jobId: z.number().int().positive(),
  /** Release: how the job ends (`$.outcome`), which decides whether a tape drive keeps its volume loaded. */
  outcome: z.object({ statusCode: z.number().int().optional(), failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional() }).optional(),
});

/** The resource broker's Task states: Reserve and Release. */
export function createBrokerHandler(deps: BrokerDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(BrokerInput, 'broker', async (input) =>
    input.action === 'reserve' ? reserveResources(deps, input.jobId, deps.clock.now()) : releaseResources(deps, input.jobId, { now: deps.clock.now(), outcome: input.outcome }),
    observability,
  );
}
