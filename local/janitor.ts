import { reconcile, type JanitorReport } from '#core/jobs/janitor.ts';
import { objectStoreStaging } from '#agent/transport/staging-area.ts';
import { isOrphanOwner } from './orphans.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import type { LocalRuntime } from './runtime.ts';

/**
 * The standalone runtime's janitor, run on start and on every tick: jobs a
 * dead process left QUEUED or ACTIVE end (2002, or the status of the image
 * they catalogued), their reservations are released, and staged images
 * nobody will commit are removed from their storage units.
 */
export async function runJanitor(runtime: LocalRuntime): Promise<JanitorReport> {
  return reconcile(
    {
      config: runtime.config,
      jobs: runtime.jobs,
      catalog: runtime.catalog,
      media: runtime.media,
      staging: objectStoreStaging(openStorageUnit),
      isOrphaned: (job) => isOrphanOwner(job.owner, runtime.owner),
    },
    runtime.clock.now(),
  );
}
