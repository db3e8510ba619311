import type { RestoreJobRef } from '#core/jobs/restore-job.ts';
import type { RestoreJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { RestoreRun } from '#local/restore-engine.ts';
import { followExecution, statusOfEnded, type FollowOptions } from './follow-execution.ts';

export type FollowRestoreOptions = FollowOptions<RestoreJobRef>;

/**
 * Follows a restore job started as an execution of the restore-job state
 * machine, as followBackup does a backup (follow-execution.ts): ends when the
 * job is DONE (its status and record), or when the execution has ended
 * without queueing a job (a request Queue refused: the execution's cause) or
 * without ending the job.
 */
export function followRestore(options: FollowRestoreOptions): Promise<RestoreRun> {
  return followExecution<RestoreJob, RestoreJobRef, RestoreRun>(options, {
    type: 'restore',
    started: 'restore',
    jobNoun: 'restore job',
    refOf: (job) => ({ jobId: job.jobId, client: job.client, backupId: 'backupId' in job.source ? job.source.backupId : '' }),
    doneRun: (job) => ({ jobId: job.jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, error: job.error, job }),
    openRun: (job, run) => ({ ...run, job }),
    // Queue refused the request (unknown image, bad target): no job, the execution's cause says why. 20 as the local runtime's refusal.
    statusWithoutJob: (status) => (status === 'FAILED' ? StatusCode.INVALID_COMMAND_USAGE : statusOfEnded(status)),
  });
}
