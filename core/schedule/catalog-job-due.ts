import type { CatalogJobRequest } from '../jobs/catalog-job.ts';
import { CATALOG_CLIENT } from '../model/dr-file.ts';
import { dueCatalogBackup, CATALOG_BACKUP_SCHEDULE } from './catalog-backup-due.ts';
import { dueCatalogCheck } from './catalog-check-due.ts';
import { executionNameFor, type DueInput } from './due.ts';

/** A catalog job due now: the catalog-job execution to start, by name, with its request. */
export interface DueCatalogJob {
  executionName: string;
  request: CatalogJobRequest;
  reason: string;
}

/**
 * The catalog backup and the catalog check due now, as the cloud scheduler
 * starts them (executions of statemachines/catalog-job.asl.json), decided
 * from what the tick's backup decision read: the same decisions as the
 * standalone tick's (catalog-backup-due.ts, catalog-check-due.ts), each
 * named by kind, policy and due instant, so a tick that runs twice, or two
 * ticks at once, start each once.
 */
export function dueCatalogJobs(input: DueInput): DueCatalogJob[] {
  const due: DueCatalogJob[] = [];
  const backup = dueCatalogBackup({ policies: input.policies, images: input.images, jobs: input.jobs, now: input.now, ...(input.suspended === undefined ? {} : { suspended: input.suspended }) }).due;
  if (backup) {
    const executionName = executionNameFor(backup.policy, CATALOG_CLIENT, CATALOG_BACKUP_SCHEDULE, backup.dueAt);
    const retentionDays = input.policies.find((p) => p.name === backup.policy)?.schedules[0]?.retention.days;
    due.push({
      executionName,
      reason: backup.reason,
      request: { kind: 'catalog-backup', policy: backup.policy, storageUnit: backup.storageUnit, ...(retentionDays === undefined ? {} : { retentionDays }), dueAt: backup.dueAt.toISOString(), executionName },
    });
  }
  const check = dueCatalogCheck({ policies: input.policies, jobs: input.jobs, now: input.now, ...(input.suspended === undefined ? {} : { suspended: input.suspended }) }).due;
  if (check) {
    const executionName = executionNameFor(check.policy, CATALOG_CLIENT, 'catalog-check', check.dueAt);
    due.push({ executionName, reason: check.reason, request: { kind: 'catalog-check', policy: check.policy, repair: check.repair, graceSeconds: check.graceSeconds, dueAt: check.dueAt.toISOString(), executionName } });
  }
  return due;
}
