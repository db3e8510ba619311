import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import { dueCatalogJobs } from '#core/schedule/catalog-job-due.ts';
import type { DueInput } from '#core/schedule/due.ts';
import { startExecutions, type StartsReport } from '#core/schedule/start-executions.ts';

/** The catalog jobs a tick started (execution names), those started before, and those it could not start (tried again next tick). */
export type CatalogJobsReport = StartsReport;

/**
 * Starts the catalog backup and the catalog check due (a policy's
 * `catalogBackup` and `catalogCheck`; core/schedule/catalog-job-due.ts) as
 * executions of the catalog-job state machine, each by its execution name
 * (kind, policy, due instant: two ticks start it once). The work runs in
 * the catalog-job Lambda, whose time limit is the 15 minutes a catalog
 * backup or a full check may need, not in the tick. Failures are reported,
 * never thrown: the backups the tick started stand.
 */
export function startCatalogJobs(starter: ExecutionStarter, input: DueInput): Promise<CatalogJobsReport> {
  return startExecutions(starter, dueCatalogJobs(input).map((job) => ({ executionName: job.executionName, request: job.request, label: job.request.kind })));
}
