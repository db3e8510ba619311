import { dueJobs, type DueJob } from '#core/schedule/due.ts';
import type { LocalRuntime } from './runtime.ts';
import { runBackupJob, type BackupRun } from './job-engine.ts';

/**
 * One scheduler pass of the standalone service: compute what is due and start
 * each due job in this process. Returns the started runs so callers may await them.
 */
export async function schedulerTick(runtime: LocalRuntime, onStart?: (due: DueJob) => void): Promise<Promise<BackupRun>[]> {
  const [policies, images, queued, active] = await Promise.all([
    runtime.config.listPolicies(),
    runtime.catalog.listImages(),
    runtime.jobs.list({ state: 'QUEUED', limit: 10_000 }),
    runtime.jobs.list({ state: 'ACTIVE', limit: 10_000 }),
  ]);
  const { due } = dueJobs({ policies, images, jobsInFlight: [...queued, ...active], now: runtime.clock.now() });
  return due.map((job) => {
    onStart?.(job);
    return runBackupJob(runtime, { policy: job.policy, client: job.client, schedule: job.schedule, level: job.level });
  });
}
