import type { Job, JobKind, JobState } from '../model/job.ts';

/** The `source` of every event Cairn publishes (EventBridge rules match on it). */
export const JOB_EVENT_SOURCE = 'cairn';
/** The `detail-type` of a job's state change. */
export const JOB_STATE_CHANGE = 'Cairn Job State Change';

/**
 * One change of a job's state (QUEUED, ACTIVE, DONE), as subscribers see it:
 * the `detail` of a "Cairn Job State Change" event. A field the job does not
 * have (no backup id yet, no status while it runs) is absent, never null.
 * docs/architecture.md lists the fields; keep the two together.
 */
export interface JobStateChange {
  jobId: number;
  kind: JobKind;
  /** The state the job has now. */
  state: JobState;
  /** The state it had before; absent when the job was just queued. */
  previousState?: JobState;
  /** 1, 2, ...: a retried job turns QUEUED again as its next attempt. */
  attempt: number;
  client: string;
  /** Backups only: the policy and schedule the job runs under (`manual` for a manual backup). */
  policy?: string;
  schedule?: string;
  /** Set once the job ended (DONE). */
  statusCode?: number;
  statusText?: string;
  /** The image a backup writes, once it was granted resources. */
  backupId?: string;
  /** The workflow execution of a scheduled job. */
  executionName?: string;
  /** Why a QUEUED job waits (a retry, say). */
  waitingReason?: string;
  queuedAt: string;
  startedAt?: string;
  endedAt?: string;
  /** When the change was written (the job's `updatedAt`): subscribers order changes of one job by it. */
  at: string;
}

/**
 * Where job state changes go (EventBridge in the cloud).
 *
 * Contract:
 * - `publish` resolves once the change was accepted for delivery, and
 *   rejects (a CairnError keeping the cause) when it could not be, after
 *   whatever retrying the adapter does itself.
 * - Delivery is at least once and unordered: subscribers may see a change
 *   twice, and changes of one job out of order (order them by `at` and
 *   `previousState`).
 * - The job record is the truth and is written first: a change that could
 *   not be published is never a reason to fail or undo the job. The caller
 *   (`PublishingJobStore`) reports it and carries on.
 */
export interface JobEventPublisher {
  publish(change: JobStateChange): Promise<void>;
}

/** A job's current record as the change that led to it. */
export function jobStateChange(job: Job, previousState: JobState | undefined): JobStateChange {
  const backup = job.type === 'backup' ? job : undefined;
  const change: JobStateChange = {
    jobId: job.jobId,
    kind: job.type,
    state: job.state,
    previousState,
    attempt: job.attempt,
    client: job.client,
    policy: backup?.policy,
    schedule: backup?.schedule,
    statusCode: job.statusCode,
    statusText: job.statusText,
    backupId: backup?.backupId,
    executionName: job.executionName,
    waitingReason: job.waitingReason,
    queuedAt: job.queuedAt,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
    at: job.updatedAt,
  };
  // Absent, not undefined: the detail is JSON and every subscriber sees the same keys.
  return Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)) as unknown as JobStateChange;
}
