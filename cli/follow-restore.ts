import type { RestoreJobRef } from '#core/jobs/restore-job.ts';
import type { RestoreJob } from '#core/model/job.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { RestoreRun } from '#local/restore-engine.ts';
import { failureText, statusOfEnded, type ExecutionView } from './follow-backup.ts';

export interface FollowRestoreOptions {
  /** The owner tag the execution's restore job carries (the request's `owner`). */
  owner: string;
  /** The execution's name, for messages. */
  executionName: string;
  jobs: JobStore;
  /** The execution's state now; undefined while Step Functions does not list it. */
  execution: () => Promise<ExecutionView | undefined>;
  /** Waits before the next look (2 s against a stack). */
  pause: () => Promise<void>;
  onQueued?: (job: RestoreJobRef) => void;
  /** Looks after which an execution Step Functions still does not know counts as lost (default 15). */
  unknownLooks?: number;
}

const OPEN = new Set(['RUNNING', 'PENDING_REDRIVE']);

/**
 * Follows a restore job started as an execution of the restore-job state
 * machine, as followBackup does a backup: ends when the job is DONE (its
 * status), or when the execution has ended without queueing a job (a request
 * Queue refused: the execution's cause) or without ending the job.
 */
export async function followRestore(options: FollowRestoreOptions): Promise<RestoreRun> {
  const { jobs, owner, executionName } = options;
  const unknownLooks = options.unknownLooks ?? 15;
  const findJob = async (): Promise<RestoreJob | undefined> => (await jobs.list({ limit: 50 })).find((j): j is RestoreJob => j.type === 'restore' && j.owner === owner);
  const read = async (jobId: number): Promise<RestoreJob | undefined> => {
    const job = await jobs.get(jobId);
    return job?.type === 'restore' ? job : undefined;
  };
  let job: RestoreJob | undefined;
  let unknown = 0;
  for (;;) {
    await options.pause();
    if (job === undefined) {
      job = await findJob();
      if (job) {
        options.onQueued?.({ jobId: job.jobId, client: job.client, backupId: 'backupId' in job.source ? job.source.backupId : '' });
        if (job.state === 'DONE') return doneRun(job);
        continue;
      }
    } else {
      const current = await read(job.jobId);
      if (current?.state === 'DONE') return doneRun(current);
      if (current) job = current;
    }
    const execution = await options.execution();
    if (execution === undefined) {
      if (++unknown >= unknownLooks) return { jobId: job?.jobId, statusCode: StatusCode.INTERNAL_ERROR, error: `Step Functions does not know the execution ${executionName} that this restore started` };
      continue;
    }
    unknown = 0;
    if (OPEN.has(execution.status)) continue;
    const last = job === undefined ? await findJob() : await read(job.jobId);
    if (last?.state === 'DONE') return doneRun(last);
    const why = failureText(execution);
    // Queue refused the request (unknown image, bad target): no job, the execution's cause says why. 20 as the local runtime's refusal.
    if (last === undefined) return { statusCode: execution.status === 'FAILED' ? StatusCode.INVALID_COMMAND_USAGE : statusOfEnded(execution.status), error: `the execution ${executionName} ended ${execution.status} without queueing a restore job${why}` };
    return {
      jobId: last.jobId,
      statusCode: statusOfEnded(execution.status),
      error: `the execution ${executionName} ended ${execution.status} while restore job ${last.jobId} was ${last.state}${why}; the job's record stays ${last.state} until something ends it`,
      job: last,
    };
  }
}

function doneRun(job: RestoreJob): RestoreRun {
  return { jobId: job.jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, error: job.error, job };
}
