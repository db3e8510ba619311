import { z } from 'zod';
import { queueCatalogJob, runCatalogJob, type CatalogJobDeps } from '#core/jobs/catalog-job.ts';
import type { Clock } from '#core/ports/clock.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

const CatalogJobInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('queue'), request: z.unknown() }),
  z.object({ action: z.literal('run'), jobId: z.number().int().positive(), request: z.unknown() }),
]);

/**
 * The catalog job's own Task states (statemachines/catalog-job.asl.json):
 * Queue records the catalog-backup or catalog-check job QUEUED under the
 * execution's name, Run does the backup or the check and ends the job
 * (core/jobs/catalog-job.ts); EndJob is the job manager's. The catalog
 * image writer and the copy check come in `deps` from the entry
 * (lambdas/catalog-job.ts), which alone may import them from edge-agent/.
 */
export function createCatalogJobHandler(deps: Omit<CatalogJobDeps, 'now'> & { clock: Clock }, observability?: HandlerObservability) {
  const job = { ...deps, now: () => deps.clock.now() };
  return taskHandler(CatalogJobInput, 'catalog-job', async (input) => {
    switch (input.action) {
      case 'queue':
        return queueCatalogJob(deps.jobs, input.request, deps.clock.now());
      case 'run':
        return runCatalogJob(job, input.jobId, input.request);
    }
  }, observability);
}
