import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import { type CatalogDeps, commitImage } from '#core/catalog/catalog-service.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const CatalogInput = z.object({ action: z.literal('commit'), jobId: z.number().int().positive(), result: z.unknown() });

/** The catalog's Task state: Catalog. */
export function createCatalogHandler(deps: CatalogDeps & { clock: Clock }, observability?: HandlerObservability) {
  return taskHandler(CatalogInput, 'catalog', async (input) => commitImage(deps, input.jobId, input.result, deps.clock.now()), observability);
}
