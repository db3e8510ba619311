import { imageWrittenBy, type BackupJob, type JobProgress } from '../model/job.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore, ProgressOutcome } from '../ports/job-store.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import { CairnError, messageOf } from '../errors.ts';
import { StatusCode, describeStatus, retryableStatusCodes, type StatusCodeValue } from '../status-codes.ts';
import { BackupRequest, MANUAL_POLICY, MANUAL_SCHEDULE } from './backup-request.ts';
import { loadSettings } from '../settings.ts';
import { parseOrThrow } from '../validation.ts';

export interface JobDeps {
  config: ConfigStore;
  jobs: JobStore;
}

/** The part of a job the state machine carries from state to state. */
export interface JobRef {
  jobId: number;
  client: string;
  policy: string;
  schedule: string;
}

/**
 * Resolves a request against the policy (or the manual-backup defaults) and
 * records a QUEUED job. Everything the job needs is copied onto it, so a
 * policy edited later does not change a job already queued.
 */
export async function queueBackupJob(deps: JobDeps, rawRequest: unknown, now: Date): Promise<JobRef> {
  const request = parseOrThrow(BackupRequest, rawRequest, 'backup request');
  const settings = await loadSettings(deps.config);
  let resolved: Pick<BackupJob, 'policy' | 'schedule' | 'level' | 'storageUnit' | 'selections' | 'exclude' | 'retentionDays'> & Pick<Partial<BackupJob>, 'crossMountPoints' | 'backupMethod'>;

  if (request.policy) {
    const policy = await deps.config.getPolicy(request.policy);
    if (!policy) throw new CairnError(StatusCode.INVALID_POLICY, `policy ${request.policy} does not exist`);
    if (!policy.clients.some((c) => c.name === request.client)) {
      throw new CairnError(StatusCode.INVALID_POLICY, `client ${request.client} is not in policy ${policy.name}`);
    }
    const schedule = request.schedule ? policy.schedules.find((s) => s.name === request.schedule) : (policy.schedules.find((s) => s.type === 'full') ?? policy.schedules[0]);
    if (!schedule) throw new CairnError(StatusCode.INVALID_POLICY, `policy ${policy.name} has no schedule ${request.schedule}`);
    resolved = {
      policy: policy.name,
      schedule: schedule.name,
      level: request.level ?? schedule.type,
      storageUnit: request.storageUnit ?? policy.storageUnit,
      selections: request.selections ?? policy.selections,
      exclude: policy.exclude,
      ...(policy.crossMountPoints ? { crossMountPoints: true } : {}),
      ...(policy.backupMethod === 'offhost' ? { backupMethod: 'offhost' as const } : {}),
      retentionDays: request.retentionDays ?? schedule.retention.days,
    };
  } else {
    if (!request.selections) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'a manual backup without a policy needs at least one path');
    const storageUnit = request.storageUnit ?? settings.defaultStorageUnit;
    if (!storageUnit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, 'no storage unit given and no defaultStorageUnit setting');
    resolved = {
      policy: MANUAL_POLICY,
      schedule: request.schedule ?? MANUAL_SCHEDULE,
      level: request.level ?? 'full',
      storageUnit,
      selections: request.selections,
      exclude: [],
      retentionDays: request.retentionDays ?? settings.defaultRetentionDays,
    };
  }
  if (!(await deps.config.getStorageUnit(resolved.storageUnit))) {
    throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${resolved.storageUnit} does not exist`);
  }

  const jobId = await deps.jobs.nextJobId();
  const at = now.toISOString();
  const job: BackupJob = {
    jobId,
    type: 'backup',
    state: 'QUEUED',
    attempt: 1,
    client: request.client,
    ...resolved,
    waitingReason: 'waiting for resources',
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    unreadable: [],
    owner: request.owner,
    windowStart: request.windowStart,
    windowEnd: request.windowEnd,
    dueAt: request.dueAt,
    attempts: [],
    executionName: request.executionName,
    ...(request.parentJobId === undefined ? {} : { parentJobId: request.parentJobId }),
    queuedAt: at,
    updatedAt: at,
  };
  await deps.jobs.create(job);
  return { jobId, client: job.client, policy: job.policy, schedule: job.schedule };
}

/**
 * Progress from the agent, recorded only while the job is ACTIVE. The outcome
 * says whether it was, and if not the job's state: DONE means the job ended
 * (cancelled, say) and the agent should stop. A store failure rejects with a
 * CairnError naming the job: the caller decides (the agent's reporter logs it
 * and carries on, because the next report supersedes it and the data path
 * must not stop for the job record; see edge-agent/transport/progress.ts).
 */
export async function recordProgress(jobs: JobStore, jobId: number, progress: Partial<JobProgress>, now: Date): Promise<ProgressOutcome> {
  try {
    return await jobs.recordProgress(jobId, progress, now);
  } catch (error) {
    throw new CairnError(error instanceof CairnError ? error.statusCode : StatusCode.INTERNAL_ERROR, `could not record the progress of job ${jobId}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * How the workflow reports a job's end: the agent's status on success, or the
 * caught error of the state that failed.
 */
export interface JobOutcome {
  statusCode?: number;
  failure?: { Error?: string; Cause?: string };
}

/** Maps a Step Functions error name to a status code: `Status84` is ours, the rest are the service's. */
export function statusFromFailure(failure: { Error?: string; Cause?: string }): StatusCodeValue {
  const name = failure.Error ?? '';
  const ours = /^Status(\d+)$/.exec(name);
  if (ours) return Number(ours[1]) as StatusCodeValue;
  if (name === 'States.HeartbeatTimeout' || name === 'States.Timeout') return StatusCode.NETWORK_TIMEOUT;
  if (name === 'States.TaskFailed' || name.startsWith('SSM.') || name.startsWith('Ssm')) return StatusCode.CLIENT_PROCESS_ABORTED;
  return StatusCode.INTERNAL_ERROR;
}

/** Human text for a failure's cause: Lambda errors arrive as a JSON string. */
export function failureMessage(failure: { Error?: string; Cause?: string }): string {
  const cause = failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the cause is the message itself
  }
  return cause || failure.Error || 'unknown failure';
}

/**
 * Ends the job DONE with its status. Idempotent, and a job that already ended
 * (cancelled by an administrator, say) keeps the status it ended with.
 */
export async function finishJob(jobs: JobStore, jobId: number, outcome: JobOutcome, now: Date): Promise<{ jobId: number; statusCode: number }> {
  const current = await jobs.get(jobId);
  if (!current) throw new CairnError(StatusCode.JOB_NOT_FOUND, `job ${jobId} vanished before it ended`);
  if (current.state === 'DONE') return { jobId, statusCode: current.statusCode ?? StatusCode.INTERNAL_ERROR };
  const statusCode = outcome.failure ? statusFromFailure(outcome.failure) : (outcome.statusCode ?? StatusCode.INTERNAL_ERROR);
  const error = outcome.failure ? failureMessage(outcome.failure) : undefined;
  const ended = await jobs.update(jobId, (job) => ({
    ...job,
    state: 'DONE',
    statusCode,
    statusText: describeStatus(statusCode),
    waitingReason: undefined,
    error,
    endedAt: now.toISOString(),
    updatedAt: now.toISOString(),
  }));
  return { jobId, statusCode: ended.statusCode ?? statusCode };
}

export type RetryDecision = { retry: true; attempt: number; delaySeconds: number; reason: string } | { retry: false; reason: string };

/**
 * NetBackup's retry rules, decided after an attempt has released its
 * resources: a retryable failure is tried again after Job Retry Delay, up to
 * Backup Tries attempts within its hours, and never past the job's window.
 * Retrying turns the job QUEUED again as its next attempt, with the failed
 * attempt kept in `attempts`. Success, partial success and non-retryable
 * statuses (71, 150, 196, ...) are not retried.
 */
export async function decideRetry(deps: JobDeps, jobId: number, outcome: JobOutcome, now: Date): Promise<RetryDecision> {
  const job = await deps.jobs.get(jobId);
  if (!job) throw new CairnError(StatusCode.JOB_NOT_FOUND, `job ${jobId} vanished before its retry decision`);
  if (job.state === 'DONE') return { retry: false, reason: `job already ended with status ${job.statusCode}` };
  const statusCode = outcome.failure ? statusFromFailure(outcome.failure) : (outcome.statusCode ?? StatusCode.INTERNAL_ERROR);
  if (!retryableStatusCodes.has(statusCode)) return { retry: false, reason: `status ${statusCode} is not retried` };
  const settings = await loadSettings(deps.config);
  const { tries, withinHours } = settings.backupTries;
  const since = now.getTime() - withinHours * 3_600_000;
  const recentAttempts = (job.attempts ?? []).filter((a) => Date.parse(a.endedAt) >= since).length + 1;
  if (recentAttempts >= tries) return { retry: false, reason: `Backup Tries reached: ${recentAttempts} of ${tries} attempts within ${withinHours} h` };
  const retryAt = new Date(now.getTime() + settings.jobRetryDelaySeconds * 1000);
  const windowEnd = job.type === 'backup' ? job.windowEnd : undefined;
  if (windowEnd && retryAt >= new Date(windowEnd)) return { retry: false, reason: `the window closes at ${windowEnd}, before the retry delay ends` };

  const error = outcome.failure ? failureMessage(outcome.failure) : undefined;
  const reason = `attempt ${job.attempt} ended with status ${statusCode}; attempt ${job.attempt + 1} of ${tries} at ${retryAt.toISOString()}`;
  const next = await deps.jobs.update(
    jobId,
    (j) => {
      const backupId = imageWrittenBy(j);
      const retried = {
        ...j,
        state: 'QUEUED' as const,
        attempt: j.attempt + 1,
        attempts: [...(j.attempts ?? []), { attempt: j.attempt, statusCode, error, backupId, startedAt: j.startedAt, endedAt: now.toISOString() }],
        startedAt: undefined,
        waitingReason: `retry: ${reason}`,
        progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
        updatedAt: now.toISOString(),
      };
      // A backup's next attempt writes a new image, under a new id, with its own unreadable files.
      return retried.type === 'backup' ? { ...retried, backupId: undefined, unreadable: [] } : retried;
    },
    { expectedStates: ['QUEUED', 'ACTIVE'] },
  );
  return { retry: true, attempt: next.attempt, delaySeconds: settings.jobRetryDelaySeconds, reason };
}

/**
 * An administrator ends a job (status 150) and takes back what it holds. The
 * running workflow notices at its next step (the agent at its next progress
 * report, a lifecycle job at its next look at its record) and ends without
 * cataloguing anything. `by` names who cancelled, for the job's reason
 * (`cancelled by an administrator (root@host1, cairn jobs cancel)`).
 */
export async function cancelJob(deps: JobDeps & { media: Pick<MediaStore, 'release'>; catalog: Pick<CatalogStore, 'getImage' | 'withdrawImage'> }, jobId: number, now: Date, by?: string): Promise<{ jobId: number; statusCode: number; released: boolean }> {
  const job = await deps.jobs.get(jobId);
  if (!job) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId} does not exist`);
  if (job.state === 'DONE') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId} has already ended with status ${job.statusCode}`);
  const ended = await finishJob(deps.jobs, jobId, { failure: { Error: `Status${StatusCode.TERMINATED_BY_ADMINISTRATOR}`, Cause: `cancelled by an administrator${by ? ` (${by})` : ''}` } }, now);
  // The Catalog step may have committed the job's image just before: a job
  // and its image always agree, so the image is withdrawn (commitImage
  // checks the job after committing, so one of the two sees the other).
  const current = await deps.jobs.get(jobId);
  const backupId = current && imageWrittenBy(current);
  const image = backupId ? await deps.catalog.getImage(backupId) : undefined;
  if (image?.jobId === jobId && ended.statusCode >= 2) await deps.catalog.withdrawImage(image.backupId, now);
  const released = await deps.media.release(jobId);
  return { ...ended, released };
}
