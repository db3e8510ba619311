import { dueJobs, scheduledRequest, type DueJob } from '#core/schedule/due.ts';
import { loadSettings } from '#core/settings.ts';
import type { LocalRuntime } from './runtime.ts';
import { runBackupJob, type BackupRun } from './job-engine.ts';

/**
 * One scheduler pass of the standalone service: compute what is due and start
 * each due job in this process. Each job carries the execution name of its
 * (policy, client, schedule, window), which the job store accepts once, so
 * two ticks racing start it once. Returns the started runs.
 */
export async function schedulerTick(runtime: LocalRuntime, onStart?: (due: DueJob) => void): Promise<Promise<BackupRun>[]> {
  const [policies, images, jobs, settings] = await Promise.all([
    runtime.config.listPolicies(),
    runtime.catalog.listImages(),
    runtime.jobs.list({ limit: 5000 }),
    loadSettings(runtime.config),
  ]);
  const { due } = dueJobs({ policies, images, jobs, suspended: settings.schedulerSuspended, now: runtime.clock.now() });
  return due.map((job) => {
    onStart?.(job);
    return runBackupJob(runtime, scheduledRequest(job));
  });
}
