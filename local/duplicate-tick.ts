import { systemTimer } from '#lambdas/system-clock.ts';
import type { DuplicateResult } from '#agent/duplicate/duplicate-image.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { duplicateAsJob } from './duplicate-job.ts';
import { messageOf } from '#core/errors.ts';
import { dueDuplicates } from '#core/schedule/duplicate-due.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { localDuplicateDeps } from './duplicate-deps.ts';
import type { LocalRuntime } from './runtime.ts';
import type { TapeDevices } from '#agent/tape/mount.ts';

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
 * (local/duplicate-job.ts), at most `max` per tick; a copy to a tape
 * unit reserves its drive and volumes through the broker's rules, and a
 * drive that is busy makes it wait (up to the media mount timeout) as a
 * backup waits. A failure is
 * reported and the copy stays due: the next tick tries again, and finds
 * nothing catalogued of the failed attempt.
 */
export async function runDueDuplicates(
  runtime: { catalog: CatalogStore; config: Pick<ConfigStore, 'listPolicies' | 'getStorageUnit'>; jobs: JobStore; clock: Clock; owner: string } | LocalRuntime,
  max = DEFAULT_DUPLICATES_PER_TICK,
  options: { tapeDevices?: TapeDevices } = {},
): Promise<DuplicationRun> {
  // The whole runtime (the scheduler tick's) reaches tape units too; catalog and configuration alone, disk and S3 units.
  const deps = 'emm' in runtime ? localDuplicateDeps(runtime, options) : { catalog: runtime.catalog, config: runtime.config, openStorageUnit };
  const [policies, images] = await Promise.all([runtime.config.listPolicies(), runtime.catalog.listImages()]);
  const due = dueDuplicates({ policies, images, now: runtime.clock.now() });
  const run: DuplicationRun = { done: [], deferred: Math.max(0, due.length - max), problems: [] };
  for (const entry of due.slice(0, max)) {
    try {
      const copy = await duplicateAsJob(
        { ...deps, jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner, timer: systemTimer },
        { backupId: entry.backupId, to: entry.storageUnit, expiresAt: entry.expiresAt, policy: entry.policy },
      );
      run.done.push({ ...copy.result, jobId: copy.jobId });
    } catch (error) {
      run.problems.push(`image ${entry.backupId} to ${entry.storageUnit}: ${messageOf(error)}; tried again at the next tick`);
    }
  }
  return run;
}
