import type { JobRef } from '#core/jobs/job-service.ts';
import { imageWrittenBy, type BackupJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { followExecution, statusOfEnded, type FollowOptions } from './follow-execution.ts';

export { failureText, statusOfEnded, type ExecutionView } from './follow-execution.ts';

export type FollowBackupOptions = FollowOptions<JobRef>;

/**
 * Follows a backup started as an execution of the backup-job state machine
 * until it has ended (follow-execution.ts): with the job's status once it is
 * DONE, else with the execution's, and the image it wrote.
 */
export function followBackup(options: FollowBackupOptions): Promise<BackupRun> {
  return followExecution<BackupJob, JobRef, BackupRun>(options, {
    type: 'backup',
    started: 'backup',
    jobNoun: 'job',
    refOf: (job) => ({ jobId: job.jobId, client: job.client, policy: job.policy, schedule: job.schedule }),
    doneRun: (job) => ({ jobId: job.jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, backupId: imageWrittenBy(job), error: job.error }),
    openRun: (_job, run) => run,
    statusWithoutJob: statusOfEnded,
  });
}
