import { NotFoundError } from '#core/errors.ts';
import { addDetails } from '#core/broker/tape-fault-release.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import { restartDetail, restartRequest } from '#core/jobs/restart-job.ts';
import type { BackupRun } from '#local/job-engine.ts';
import type { Backend } from './backend-interface.ts';

/**
 * Runs an ended backup job again as a new job (`cairn jobs restart`, the
 * monitor's Restart): the same request (core/jobs/restart-job.ts), and a
 * detail line on the new job naming the job it restarts and `by`. Rejects
 * with NotFoundError for no such job and CairnError 20 with the reason for a
 * job that cannot be restarted, before anything is queued; resolves when the
 * new job has ended.
 */
export async function restartJob(backend: Pick<Backend, 'jobs' | 'clock' | 'runBackup'>, jobId: number, by: string, hooks: { onQueued?: (job: JobRef) => void } = {}): Promise<BackupRun> {
  const job = await backend.jobs.get(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  const request = restartRequest(job);
  return backend.runBackup(request, {
    onQueued: (ref) => {
      hooks.onQueued?.(ref);
      // Best effort: the restart runs whether or not its detail line lands.
      void addDetails(backend.jobs, ref.jobId, backend.clock.now(), [restartDetail(jobId, by)]).catch(() => undefined);
    },
  });
}
