import { CairnError } from '../errors.ts';
import type { Job } from '../model/job.ts';
import { StatusCode } from '../status-codes.ts';
import { MANUAL_POLICY, type BackupRequest } from './backup-request.ts';

/**
 * Why a job cannot be restarted (`cairn jobs restart`, the monitor's Restart),
 * or undefined when it can: only an ended backup job runs again, as a new job.
 * One rule for the command, the monitor's refusal and its button.
 */
export function restartRefusal(job: Job): string | undefined {
  if (job.type !== 'backup') return `job ${job.jobId} is a ${job.type} job; only a backup job can be restarted`;
  if (job.state !== 'DONE') return `job ${job.jobId} is ${job.state}; only an ended job can be restarted`;
  if (job.restartedAs !== undefined) return job.restartedAs > 0 ? `job ${job.jobId} was restarted already, as job ${job.restartedAs}: restart that one` : `job ${job.jobId} is being restarted`;
  return undefined;
}

/**
 * The backup request that runs an ended backup job again with the same
 * policy, client, schedule, level, selections, storage unit and retention
 * (like bpdbjobs -restart). A manual job's policy is left out (a manual
 * backup names its paths). CairnError 20 with `restartRefusal`'s reason
 * for a job that cannot be restarted.
 */
export function restartRequest(job: Job): BackupRequest {
  const refusal = restartRefusal(job);
  if (refusal !== undefined || job.type !== 'backup') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, refusal ?? `job ${job.jobId} cannot be restarted`);
  return {
    client: job.client,
    ...(job.policy === MANUAL_POLICY ? {} : { policy: job.policy }),
    schedule: job.schedule,
    level: job.level,
    selections: job.selections,
    storageUnit: job.storageUnit,
    retentionDays: job.retentionDays,
  };
}

/** The detail line the new job carries: which job it runs again and who asked. */
export function restartDetail(fromJobId: number, by: string): string {
  return `restart of job ${fromJobId}, requested by ${by}`;
}
