import { systemTimer } from '#lambdas/system-clock.ts';
import { loadSettings } from '#core/settings.ts';
import { CATALOG_CLIENT } from '#core/model/dr-file.ts';
import { dueCatalogBackup } from '#core/schedule/catalog-backup-due.ts';
import type { CatalogBackupOutcome } from '#agent/catalog/catalog-image.ts';
import { backupLocalCatalog } from './catalog-backup.ts';
import type { LocalRuntime } from './runtime.ts';
import { catalogBackupAsJob } from './catalog-backup-job.ts';

export interface ScheduledCatalogBackup {
  policy: string;
  /** The catalog-backup job that ran it. */
  jobId: number;
  reason: string;
  outcome: CatalogBackupOutcome;
}

/**
 * The local scheduler tick's catalog backup: when a policy's `catalogBackup`
 * schedule is due (core/schedule/catalog-backup-due.ts), the catalog is
 * backed up here and now, in the tick (a catalog is small: seconds), with
 * its DR file under $CAIRN_HOME/dr/, as a `catalog-backup` job. Resolves
 * undefined when none is due; rejects when the backup fails (its job ended
 * with the failure's status and reason; the tick reports it and tries
 * again at the next one, as nothing was catalogued).
 */
export async function runScheduledCatalogBackup(runtime: LocalRuntime): Promise<ScheduledCatalogBackup | undefined> {
  const now = runtime.clock.now();
  const [policies, images, settings] = await Promise.all([runtime.config.listPolicies(), runtime.catalog.listImages({ client: CATALOG_CLIENT }), loadSettings(runtime.config)]);
  const { due } = dueCatalogBackup({ policies, images, suspended: settings.schedulerSuspended, now });
  if (due === undefined) return undefined;
  const retentionDays = policies.find((p) => p.name === due.policy)?.schedules[0]?.retention.days;
  const run = await catalogBackupAsJob({ jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner, timer: systemTimer }, { storageUnit: due.storageUnit, policy: due.policy }, (claimFor, signal) =>
    backupLocalCatalog(runtime, { storageUnit: due.storageUnit, retentionDays, claimFor, signal }),
  );
  return { policy: due.policy, jobId: run.jobId, reason: due.reason, outcome: run.result };
}
