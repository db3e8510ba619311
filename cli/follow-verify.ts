import type { VerifyJobRef } from '#core/jobs/verify-job.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { VerifyRun } from '#local/verify-engine.ts';
import { followExecution, statusOfEnded, type FollowOptions } from './follow-execution.ts';

export type FollowVerifyOptions = FollowOptions<VerifyJobRef>;

/**
 * Follows a verify job started as an execution of the verify-job state
 * machine (`cairn --aws verify`), as followRestore does a restore job
 * (follow-execution.ts): ends when the job is DONE (its status, 2001 naming
 * the first bad member), or when the execution ended without queueing it
 * (Queue refused the request: the execution's cause) or without ending it.
 */
export function followVerify(options: FollowVerifyOptions): Promise<VerifyRun> {
  return followExecution<VerifyJob, VerifyJobRef, VerifyRun>(options, {
    type: 'verify',
    started: 'verify',
    jobNoun: 'verify job',
    refOf: (job) => ({ jobId: job.jobId, client: job.client, backupId: job.image }),
    doneRun: (job) => ({ jobId: job.jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, error: job.error, job }),
    openRun: (job, run) => ({ ...run, job }),
    statusWithoutJob: (status) => (status === 'FAILED' ? StatusCode.INVALID_COMMAND_USAGE : statusOfEnded(status)),
  });
}
