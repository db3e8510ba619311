import { loadSettings } from '#core/settings.ts';
import { CATALOG_CLIENT } from '#core/model/dr-file.ts';
import { dueCatalogBackup } from '#core/schedule/catalog-backup-due.ts';
import { backupLocalCatalog, type CatalogBackupOutcome } from './catalog-backup.ts';
import type { LocalRuntime } from './runtime.ts';

export interface ScheduledCatalogBackup {
  policy: string;
  reason: string;
  outcome: CatalogBackupOutcome;
}

/**
 * The local scheduler tick's catalog backup: when a policy's `catalogBackup`
 * schedule is due (core/schedule/catalog-backup-due.ts), the catalog is
 * backed up here and now, in the tick (a catalog is small: seconds), with
 * its DR file under $CAIRN_HOME/dr/. Resolves undefined when none is due;
 * rejects when the backup fails (the tick reports it and tries again at
 * the next one, as nothing was catalogued).
 */
export async function runScheduledCatalogBackup(runtime: LocalRuntime): Promise<ScheduledCatalogBackup | undefined> {
  const now = runtime.clock.now();
  const [policies, images, settings] = await Promise.all([runtime.config.listPolicies(), runtime.catalog.listImages({ client: CATALOG_CLIENT }), loadSettings(runtime.config)]);
  const { due } = dueCatalogBackup({ policies, images, suspended: settings.schedulerSuspended, now });
  if (due === undefined) return undefined;
  const retentionDays = policies.find((p) => p.name === due.policy)?.schedules[0]?.retention.days;
  return { policy: due.policy, reason: due.reason, outcome: await backupLocalCatalog(runtime, { storageUnit: due.storageUnit, retentionDays }) };
}
