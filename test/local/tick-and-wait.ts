import type { BackupRun } from '#local/job-engine.ts';
import type { LocalRuntime } from '#local/runtime.ts';
import { localScheduler } from '#local/scheduler-tick.ts';

/** One standalone scheduler tick, then the runs of the jobs it started once they have ended. */
export async function tickAndWait(rt: LocalRuntime): Promise<BackupRun[]> {
  const runs: BackupRun[] = [];
  const scheduler = localScheduler(rt, { onEnded: (_name, run) => runs.push(run) });
  await scheduler.tick();
  await scheduler.settled();
  return runs;
}
