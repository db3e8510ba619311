import { runCatalogCheck, type CatalogCheckDeps, type CatalogCheckReport } from '../catalog/catalog-check.ts';
import type { Job } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import { dueCatalogCheck } from '../schedule/catalog-check-due.ts';
import { runAsJob, type LifecycleJobDeps } from './lifecycle-job.ts';
import { catalogCheckFields, catalogCheckOutcome } from './lifecycle-outcomes.ts';

export interface ScheduledCatalogCheck {
  policy: string;
  reason: string;
  jobId: number;
  statusCode: number;
  report: CatalogCheckReport;
}

/**
 * A scheduler tick's catalog check: when a policy's `catalogCheck` is due
 * (core/schedule/catalog-check-due.ts, from the jobs the tick's due
 * decision read), the check runs here and now as a `catalog-check` job
 * naming the policy (the next decision finds it), with the schedule's
 * repair and grace. Resolves undefined when none is due; rejects when the
 * check itself could not run (its job ended with the failure).
 */
export async function runScheduledCatalogCheck(
  deps: LifecycleJobDeps & { check: CatalogCheckDeps },
  input: { policies: readonly Policy[]; jobs: readonly Job[]; suspended?: boolean; now: Date },
): Promise<ScheduledCatalogCheck | undefined> {
  const { due } = dueCatalogCheck(input);
  if (due === undefined) return undefined;
  const run = await runAsJob(deps, 'catalog-check', catalogCheckFields(due.repair, due.policy), (job) => runCatalogCheck(deps.check, deps.now(), { repair: due.repair, graceSeconds: due.graceSeconds, signal: job.signal }), catalogCheckOutcome);
  return { policy: due.policy, reason: due.reason, jobId: run.jobId, statusCode: run.statusCode, report: run.result };
}
