import type { DueJob } from '#core/schedule/due.ts';
import { schedulerTick, type TickResult } from '#core/schedule/tick.ts';
import type { BackupRun } from './job-engine.ts';
import { backupJobStarter } from './local-execution-starter.ts';
import type { LocalRuntime } from './runtime.ts';
import { unloadIdleDrives, type IdleUnloadReport } from './idle-drive-unload.ts';
import { messageOf } from '#core/errors.ts';
import type { TapeDevices } from '#agent/tape/mount.ts';
import { DEFAULT_EXPIRATIONS_PER_TICK, runExpiration, type ExpirationRun } from '#core/catalog/expire-images.ts';
import { openStorageUnit } from './open-storage-unit.ts';

/** A tick's outcome: the core tick's, and what its cleanup expired (core/catalog/expire-images.ts). */
export type LocalTickResult = TickResult & { expiration: ExpirationRun };
import type { DueVerify } from '#core/schedule/verify-due.ts';
import { localVerifyScheduler } from './verify-starter.ts';
import { runScheduledCatalogBackup, type ScheduledCatalogBackup } from './scheduled-catalog-backup.ts';
import { runDueDuplicates, type DuplicationRun } from './duplicate-tick.ts';
import { recordFinishedJob } from '#core/jobs/lifecycle-job.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { runScheduledCatalogCheck, type ScheduledCatalogCheck } from '#core/jobs/scheduled-catalog-check.ts';
import type { CatalogCheckDeps } from '#core/catalog/catalog-check.ts';
import type { DueInput } from '#core/schedule/due.ts';
import { cleanupDidSomething, cleanupFields, cleanupOutcome } from '#core/jobs/lifecycle-outcomes.ts';

export interface LocalScheduler {
  /** One scheduler pass (core/schedule/tick.ts): starts each due job in this process, in the background. */
  tick(): Promise<LocalTickResult>;
  /** Resolves once every job this scheduler started has ended. */
  settled(): Promise<void>;
}

export interface LocalSchedulerHooks {
  /** A due job this scheduler started (not one another tick had started already). */
  onStarted?: (job: DueJob) => void;
  /** A job this scheduler started has ended. */
  onEnded?: (name: string, run: BackupRun) => void;
  /** Drives this tick unloaded after their media unmount delay, or could not (reported only when there is something to say). */
  onIdleUnload?: (report: IdleUnloadReport) => void;
  /** A scheduled verify this scheduler started (a policy's `verify` schedule). */
  onVerifyStarted?: (job: DueVerify) => void;
  /** A policy's `catalogBackup` schedule was due and the catalog was backed up (or could not be: `error`). */
  onCatalogBackup?: (run: ScheduledCatalogBackup | { error: string }) => void;
  /** How the in-process agent reaches robots and drives for those unloads (default: the real adapters; tests wrap them). */
  tapeDevices?: TapeDevices;
  /** What this tick's cleanup did, reported only when it expired or recycled something, or could not do something. */
  onExpiration?: (run: ExpirationRun) => void;
  /** What this tick's duplication (policies' `copies`) did, reported only when it made or failed a copy. */
  onDuplication?: (run: DuplicationRun) => void;
  /**
   * The catalog check's ports (cli/catalog-check-deps.ts builds them: S3
   * units are listed with the AWS SDK, which local/ does not load); given,
   * a policy's `catalogCheck` runs in the tick when due, as a catalog-check job.
   */
  catalogCheck?: () => CatalogCheckDeps;
  /** A scheduled catalog check ran (or could not: `error`). */
  onCatalogCheck?: (run: ScheduledCatalogCheck | { error: string }) => void;
  /** Images expired per tick at most (default DEFAULT_EXPIRATIONS_PER_TICK): the rest wait for the next tick. */
  maxExpirationsPerTick?: number;
}

/**
 * The standalone service's timer side: the core tick with the local
 * ExecutionStarter, which claims each execution name in SQLite. Two ticks
 * racing (two timers, two processes) start a due job once; the other answers
 * 'already-started'.
 *
 * Each tick first unloads the tape drives kept loaded past their unit's
 * `mediaUnmountDelaySeconds` with no job (local/idle-drive-unload.ts), so
 * the jobs it starts find the robot settled. A failed unload is reported,
 * never fails the tick: the next tick tries again.
 *
 * After starting the due jobs, each tick runs the cleanup (nbdelete):
 * images past their retention that no other image needs are expired, at
 * most `maxExpirationsPerTick` of them, and volumes left with no image
 * return to scratch (core/catalog/expire-images.ts). Its problems are
 * reported and tried again at the next tick; they never fail the tick.
 */
export function localScheduler(runtime: LocalRuntime, hooks: LocalSchedulerHooks = {}): LocalScheduler {
  const starter = backupJobStarter(runtime, hooks.onEnded);
  const verifies = localVerifyScheduler(runtime);
  return {
    tick: async () => {
      const unloads = await unloadIdleDrives(runtime, runtime.clock.now(), hooks.tapeDevices).catch((error: unknown): IdleUnloadReport => ({ unloaded: [], problems: [`idle drives could not be looked at: ${messageOf(error)}`] }));
      if (unloads.unloaded.length > 0 || unloads.problems.length > 0) hooks.onIdleUnload?.(unloads);
      let dueInput: DueInput | undefined;
      const result = await schedulerTick({ config: runtime.config, catalog: runtime.catalog, jobs: runtime.jobs, starter }, runtime.clock.now(), {
        onOutcome: (job, outcome) => (outcome === 'started' ? hooks.onStarted?.(job) : undefined),
        onDueInput: (input) => void (dueInput = input),
      });
      // Scheduled verifies (policies with a `verify` schedule) after the backups, which they never hold up.
      for (const job of await verifies.tick()) hooks.onVerifyStarted?.(job);
      // A scheduled catalog backup (a policy's `catalogBackup`), in the tick: its failure is reported and tried again next tick.
      const catalogBackup = await runScheduledCatalogBackup(runtime).catch((error: unknown) => ({ error: `the catalog backup failed: ${messageOf(error)}` }));
      if (catalogBackup !== undefined) hooks.onCatalogBackup?.(catalogBackup);
      // A scheduled catalog check (a policy's `catalogCheck`), decided from what the backup decision read; its failure is reported.
      if (hooks.catalogCheck && dueInput) {
        const check = await runScheduledCatalogCheck({ jobs: runtime.jobs, owner: runtime.owner, now: () => runtime.clock.now(), timer: systemTimer, check: hooks.catalogCheck() }, dueInput).catch((error: unknown) => ({ error: `the catalog check failed: ${messageOf(error)}` }));
        if (check !== undefined) hooks.onCatalogCheck?.(check);
      }
      // Copies policies declare (`copies`), before the cleanup, which may then expire a primary whose own retention ended.
      const duplication = await runDueDuplicates(runtime, undefined, hooks.tapeDevices ? { tapeDevices: hooks.tapeDevices } : {}).catch((error: unknown): DuplicationRun => ({ done: [], deferred: 0, problems: [`duplication could not run: ${messageOf(error)}`] }));
      if (duplication.done.length + duplication.problems.length > 0) hooks.onDuplication?.(duplication);
      const cleanupStarted = runtime.clock.now();
      const expiration = await runExpiration(
        { catalog: runtime.catalog, config: runtime.config, jobs: runtime.jobs, media: runtime.media, emm: runtime.emm, openStorageUnit },
        runtime.clock.now(),
        { maxImages: hooks.maxExpirationsPerTick ?? DEFAULT_EXPIRATIONS_PER_TICK },
      ).catch((error: unknown): ExpirationRun => ({ expired: [], kept: [], deferred: 0, recycled: [], problems: [`the cleanup could not run: ${messageOf(error)}`] }));
      if (expiration.expired.length + expiration.recycled.length + expiration.problems.length > 0) hooks.onExpiration?.(expiration);
      // A cleanup that did or failed something is an image-cleanup job (`cairn jobs`, the report); one that found nothing is none.
      if (cleanupDidSomething(expiration)) {
        await recordFinishedJob({ jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner }, 'image-cleanup', cleanupFields('tick'), cleanupStarted, cleanupOutcome(expiration)).catch((error: unknown) =>
          hooks.onExpiration?.({ ...expiration, problems: [...expiration.problems, `the cleanup's job could not be recorded: ${messageOf(error)}`] }),
        );
      }
      return { ...result, expiration };
    },
    settled: async () => {
      await starter.settled();
      await verifies.settled();
    },
  };
}
