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
 * new job has ended. A job is restarted once: the original's `restartedAs` is
 * claimed by a compare-and-swap (0) before the request is queued and then set
 * to the new job's id, so two restarts at once (a double click, the page and
 * `cairn jobs restart`) run one new job; a request the queue refuses lets go
 * of the claim.
 */
export async function restartJob(backend: Pick<Backend, 'jobs' | 'clock' | 'runBackup'>, jobId: number, by: string, hooks: { onQueued?: (job: JobRef) => void } = {}): Promise<BackupRun> {
  const job = await backend.jobs.get(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  const request = restartRequest(job, backend.clock.now());
  // The claim, a compare-and-swap on the ended job before anything is queued: of two restarts at once only one gets past it.
  // Its time lets a claim left by a process that died before queuing lapse (RESTART_CLAIM_MS).
  await backend.jobs.update(jobId, (current) => {
    const now = backend.clock.now();
    restartRequest(current, now);
    return current.type === 'backup' ? { ...current, restartedAs: 0, restartClaimedAt: now.toISOString() } : current;
  });
  const mark = (restartedAs: number | undefined): Promise<unknown> =>
    backend.jobs
      .update(jobId, (current) => {
        if (current.type !== 'backup') return current;
        const { restartClaimedAt: _claim, restartedAs: _was, ...rest } = current;
        return restartedAs === undefined ? rest : { ...rest, restartedAs };
      })
      .catch(() => undefined);
  let queued = false;
  const run = backend
    .runBackup(request, {
      onQueued: (ref) => {
        queued = true;
        hooks.onQueued?.(ref);
        // Best effort: the restart runs whether or not its detail line and the original's restartedAs land.
        void addDetails(backend.jobs, ref.jobId, backend.clock.now(), [restartDetail(jobId, by)]).catch(() => undefined);
        void mark(ref.jobId);
      },
    })
    .catch(async (error: unknown) => {
      if (!queued) await mark(undefined);
      throw error;
    });
  const ended = await run;
  // Never queued (the queue refused the request): the job may be restarted again.
  if (!queued) await mark(undefined);
  return ended;
}
