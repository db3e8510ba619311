import type { JobRef } from '#core/jobs/job-service.ts';
import { imageWrittenBy, type BackupJob } from '#core/model/job.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupRun } from '#local/job-engine.ts';

/** What `followBackup` needs to know of the execution: Step Functions' status and failure (aws/sfn-execution-status.ts). */
export interface ExecutionView {
  status: string;
  error?: string;
  cause?: string;
}

export interface FollowBackupOptions {
  /** The owner tag the execution's job carries (the request's `owner`). */
  owner: string;
  /** The execution's name, for messages. */
  executionName: string;
  jobs: JobStore;
  /** The execution's state now; undefined while Step Functions does not list it. */
  execution: () => Promise<ExecutionView | undefined>;
  /** Waits before the next look (2 s against a stack). */
  pause: () => Promise<void>;
  onQueued?: (job: JobRef) => void;
  /** Looks after which an execution Step Functions still does not know counts as lost (default 15). */
  unknownLooks?: number;
}

/** Step Functions statuses in which the execution still runs, or may run again. */
const OPEN = new Set(['RUNNING', 'PENDING_REDRIVE']);

/**
 * Follows a backup started as an execution of the backup-job state machine
 * until it has ended, so `cairn --aws backup` always ends: when its job is
 * DONE, with the job's status; when the execution ends without queueing a
 * job (a failed Queue step, a stop, a timeout), with the execution's status
 * and cause; when the execution ends while the job is not DONE (stopped or
 * timed out mid-job: nothing ended the job), with the execution's status and
 * a message that says the job record is left open. It used to poll the Jobs
 * table only, and waited forever in the last two cases.
 */
export async function followBackup(options: FollowBackupOptions): Promise<BackupRun> {
  const { jobs, owner, executionName } = options;
  const unknownLooks = options.unknownLooks ?? 15;
  const findJob = async (): Promise<BackupJob | undefined> => (await jobs.list({ limit: 50 })).find((j): j is BackupJob => j.type === 'backup' && j.owner === owner);
  let job: BackupJob | undefined;
  let unknown = 0;
  for (;;) {
    await options.pause();
    if (job === undefined) {
      job = await findJob();
      if (job) {
        options.onQueued?.({ jobId: job.jobId, client: job.client, policy: job.policy, schedule: job.schedule });
        if (job.state === 'DONE') return doneRun(job);
        continue;
      }
    } else {
      const current = (await jobs.get(job.jobId)) as BackupJob | undefined;
      if (current?.state === 'DONE') return doneRun(current);
      if (current) job = current;
    }
    const execution = await options.execution();
    if (execution === undefined) {
      if (++unknown >= unknownLooks) return { jobId: job?.jobId, statusCode: StatusCode.INTERNAL_ERROR, error: `Step Functions does not know the execution ${executionName} that this backup started` };
      continue;
    }
    unknown = 0;
    if (OPEN.has(execution.status)) continue;
    // The execution has ended: its last write to the Jobs table happened before, so one more read settles it.
    const last = job === undefined ? await findJob() : ((await jobs.get(job.jobId)) as BackupJob | undefined);
    if (last?.state === 'DONE') return doneRun(last);
    const why = failureText(execution);
    if (last === undefined) return { statusCode: statusOfEnded(execution.status), error: `the execution ${executionName} ended ${execution.status} without queueing a job${why}` };
    return {
      jobId: last.jobId,
      statusCode: statusOfEnded(execution.status),
      error: `the execution ${executionName} ended ${execution.status} while job ${last.jobId} was ${last.state}${why}; the job's record stays ${last.state} until something ends it`,
    };
  }
}

function doneRun(job: BackupJob): BackupRun {
  return { jobId: job.jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, backupId: imageWrittenBy(job), error: job.error };
}

/** The status a backup whose execution ended this way ends with: a stop is the administrator's (150), a timeout the agent's silence (41). */
export function statusOfEnded(status: string): number {
  if (status === 'ABORTED') return StatusCode.TERMINATED_BY_ADMINISTRATOR;
  if (status === 'TIMED_OUT') return StatusCode.NETWORK_TIMEOUT;
  return StatusCode.INTERNAL_ERROR;
}

export function failureText(execution: ExecutionView): string {
  const parts = [execution.error, execution.cause].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length === 0 ? '' : ` (${parts.join(': ').slice(0, 500)})`;
}
