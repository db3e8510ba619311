import type { DuplicateResult } from '#agent/duplicate/duplicate-image.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { duplicateAsJob } from './duplicate-job.ts';
import { messageOf } from '#core/errors.ts';
import { dueDuplicates } from '#core/schedule/duplicate-due.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { openStorageUnit } from './open-storage-unit.ts';

/** Copies a tick makes at most: a backlog is worked off over several ticks, never holding one up for hours. */
export const DEFAULT_DUPLICATES_PER_TICK = 4;

export interface DuplicationRun {
  /** Copies made, each with the `duplicate` job that made it. */
  done: (DuplicateResult & { jobId: number })[];
  /** Due copies left for the next tick (the bound). */
  deferred: number;
  /** What failed, as `image X to U: reason`; tried again at the next tick. */
  problems: string[];
}

/**
 * The standalone tick's duplication: the copies policies declare
 * (core/schedule/duplicate-due.ts), made in this process one after the
 * other (edge-agent/duplicate/), each as a `duplicate` job
 * (local/duplicate-job.ts), at most `max` per tick. A failure is
 * reported and the copy stays due: the next tick tries again, and finds
 * nothing catalogued of the failed attempt.
 */
export async function runDueDuplicates(runtime: { catalog: CatalogStore; config: Pick<ConfigStore, 'listPolicies' | 'getStorageUnit'>; jobs: JobStore; clock: Clock; owner: string }, max = DEFAULT_DUPLICATES_PER_TICK): Promise<DuplicationRun> {
  const [policies, images] = await Promise.all([runtime.config.listPolicies(), runtime.catalog.listImages()]);
  const due = dueDuplicates({ policies, images, now: runtime.clock.now() });
  const run: DuplicationRun = { done: [], deferred: Math.max(0, due.length - max), problems: [] };
  for (const entry of due.slice(0, max)) {
    try {
      const copy = await duplicateAsJob(
        { catalog: runtime.catalog, config: runtime.config, openStorageUnit, jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner },
        { backupId: entry.backupId, to: entry.storageUnit, expiresAt: entry.expiresAt, policy: entry.policy },
      );
      run.done.push({ ...copy.result, jobId: copy.jobId });
    } catch (error) {
      run.problems.push(`image ${entry.backupId} to ${entry.storageUnit}: ${messageOf(error)}; tried again at the next tick`);
    }
  }
  return run;
}
