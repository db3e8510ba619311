import type { DueJob } from '#core/schedule/due.ts';
import { schedulerTick, type TickResult } from '#core/schedule/tick.ts';
import type { BackupRun } from './job-engine.ts';
import { backupJobStarter } from './local-execution-starter.ts';
import type { LocalRuntime } from './runtime.ts';

export interface LocalScheduler {
  /** One scheduler pass (core/schedule/tick.ts): starts each due job in this process, in the background. */
  tick(): Promise<TickResult>;
  /** Resolves once every job this scheduler started has ended. */
  settled(): Promise<void>;
}

export interface LocalSchedulerHooks {
  /** A due job this scheduler started (not one another tick had started already). */
  onStarted?: (job: DueJob) => void;
  /** A job this scheduler started has ended. */
  onEnded?: (name: string, run: BackupRun) => void;
}

/**
 * The standalone service's timer side: the core tick with the local
 * ExecutionStarter, which claims each execution name in SQLite. Two ticks
 * racing (two timers, two processes) start a due job once; the other answers
 * 'already-started'.
 */
export function localScheduler(runtime: LocalRuntime, hooks: LocalSchedulerHooks = {}): LocalScheduler {
  const starter = backupJobStarter(runtime, hooks.onEnded);
  return {
    tick: () => schedulerTick({ config: runtime.config, catalog: runtime.catalog, jobs: runtime.jobs, starter }, runtime.clock.now(), { onOutcome: (job, outcome) => (outcome === 'started' ? hooks.onStarted?.(job) : undefined) }),
    settled: () => starter.settled(),
  };
}
