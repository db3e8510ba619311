import { CairnError } from '../errors.ts';
import type { Job } from '../model/job.ts';
import { StatusCode } from '../status-codes.ts';
import { MANUAL_POLICY, type BackupRequest } from './backup-request.ts';

/**
 * How long a restart's claim (`restartedAs: 0`, taken before the new job is
 * queued) refuses another restart. Queuing takes well under a second; a claim
 * this old was left by a process that died in between, and a job must not
 * stay unrestartable because of it.
 */
export const RESTART_CLAIM_MS = 5 * 60 * 1000;

/**
 * Why a job cannot be restarted (`cairn jobs restart`, the monitor's Restart),
 * or undefined when it can: only an ended backup job runs again, as a new job,
 * once. One rule for the command, the monitor's refusal and its button.
 */
export function restartRefusal(job: Job, now: Date): string | undefined {
  if (job.type !== 'backup') return `job ${job.jobId} is a ${job.type} job; only a backup job can be restarted`;
  if (job.state !== 'DONE') return `job ${job.jobId} is ${job.state}; only an ended job can be restarted`;
  if (job.restartedAs !== undefined && job.restartedAs > 0) return `job ${job.jobId} was restarted already, as job ${job.restartedAs}: restart that one`;
  if (job.restartedAs === 0 && !claimIsStale(job.restartClaimedAt, now)) return `job ${job.jobId} is being restarted`;
  return undefined;
}

/** A claim with no time (written before claims had one) or older than RESTART_CLAIM_MS. */
function claimIsStale(claimedAt: string | undefined, now: Date): boolean {
  return claimedAt === undefined || now.getTime() - Date.parse(claimedAt) >= RESTART_CLAIM_MS;
}

/**
 * The backup request that runs an ended backup job again with the same
 * policy, client, schedule, level, selections, storage unit and retention
 * (like bpdbjobs -restart). A manual job's policy is left out (a manual
 * backup names its paths). CairnError 20 with `restartRefusal`'s reason
 * for a job that cannot be restarted.
 */
export function restartRequest(job: Job, now: Date): BackupRequest {
  const refusal = restartRefusal(job, now);
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
