import type { Job } from '#core/model/job.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';

/** What a follower needs to know of the execution: Step Functions' status and failure (aws/sfn-execution-status.ts). */
export interface ExecutionView {
  status: string;
  error?: string;
  cause?: string;
}

/** How `cairn --aws` follows one execution it started (follow-backup.ts, follow-restore.ts). */
export interface FollowOptions<Ref> {
  /** The owner tag the execution's job carries (the request's `owner`). */
  owner: string;
  /** The execution's name, for messages. */
  executionName: string;
  jobs: JobStore;
  /** The execution's state now; undefined while Step Functions does not list it. */
  execution: () => Promise<ExecutionView | undefined>;
  /** Waits before the next look (2 s against a stack). */
  pause: () => Promise<void>;
  onQueued?: (job: Ref) => void;
  /** Looks after which an execution Step Functions still does not know counts as lost (default 15). */
  unknownLooks?: number;
}

/** What differs between the jobs a follower waits for: their type, how messages name them, what a run returns. */
export interface FollowedKind<J extends Job, Ref, Run> {
  type: J['type'];
  /** What the CLI started, in messages: `backup`, `restore`. */
  started: string;
  /** The job, in messages: `job`, `restore job`. */
  jobNoun: string;
  refOf(job: J): Ref;
  /** The run of a job that is DONE: its status. */
  doneRun(job: J): Run;
  /** The run of a job whose execution ended while it was not DONE; `run` holds the status and message. */
  openRun(job: J, run: { jobId: number; statusCode: number; error: string }): Run;
  /** The status when the execution ended (`status`) without queueing a job. */
  statusWithoutJob(status: string): number;
}

/** Step Functions statuses in which the execution still runs, or may run again. */
export const OPEN_EXECUTION_STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'PENDING_REDRIVE']);

/**
 * Follows a job started as an execution of its state machine until it has
 * ended, so `cairn --aws backup` and `restore` always end: when the job is
 * DONE, with the job's status; when the execution ends without queueing a
 * job (a failed Queue step, a stop, a timeout), with the execution's status
 * and cause; when the execution ends while the job is not DONE (stopped or
 * timed out mid-job: nothing ended the job), with the execution's status and
 * a message that says the job record is left open. Following the Jobs table
 * alone waited forever in the last two cases.
 */
export async function followExecution<J extends Job, Ref, Run extends { jobId?: number; statusCode: number; error?: string }>(
  options: FollowOptions<Ref>,
  kind: FollowedKind<J, Ref, Run>,
): Promise<Run> {
  const { jobs, owner, executionName } = options;
  const unknownLooks = options.unknownLooks ?? 15;
  const ofKind = (job: Job | undefined): job is J => job?.type === kind.type;
  const findJob = async (): Promise<J | undefined> => (await jobs.list({ limit: 50 })).find((j): j is J => ofKind(j) && j.owner === owner);
  const read = async (jobId: number): Promise<J | undefined> => {
    const job = await jobs.get(jobId);
    return ofKind(job) ? job : undefined;
  };
  let job: J | undefined;
  let unknown = 0;
  for (;;) {
    await options.pause();
    if (job === undefined) {
      job = await findJob();
      if (job) {
        options.onQueued?.(kind.refOf(job));
        if (job.state === 'DONE') return kind.doneRun(job);
        continue;
      }
    } else {
      const current = await read(job.jobId);
      if (current?.state === 'DONE') return kind.doneRun(current);
      if (current) job = current;
    }
    const execution = await options.execution();
    if (execution === undefined) {
      if (++unknown >= unknownLooks) return { jobId: job?.jobId, statusCode: StatusCode.INTERNAL_ERROR, error: `Step Functions does not know the execution ${executionName} that this ${kind.started} started` } as Run;
      continue;
    }
    unknown = 0;
    if (OPEN_EXECUTION_STATUSES.has(execution.status)) continue;
    // The execution has ended: its last write to the Jobs table happened before, so one more read settles it.
    const last = job === undefined ? await findJob() : await read(job.jobId);
    if (last?.state === 'DONE') return kind.doneRun(last);
    const why = failureText(execution);
    if (last === undefined) return { statusCode: kind.statusWithoutJob(execution.status), error: `the execution ${executionName} ended ${execution.status} without queueing a ${kind.jobNoun}${why}` } as Run;
    return kind.openRun(last, {
      jobId: last.jobId,
      statusCode: statusOfEnded(execution.status),
      error: `the execution ${executionName} ended ${execution.status} while ${kind.jobNoun} ${last.jobId} was ${last.state}${why}; the job's record stays ${last.state} until something ends it`,
    });
  }
}

/** The status a job whose execution ended this way ends with: a stop is the administrator's (150), a timeout the agent's silence (41). */
export function statusOfEnded(status: string): number {
  if (status === 'ABORTED') return StatusCode.TERMINATED_BY_ADMINISTRATOR;
  if (status === 'TIMED_OUT') return StatusCode.NETWORK_TIMEOUT;
  return StatusCode.INTERNAL_ERROR;
}

export function failureText(execution: ExecutionView): string {
  const parts = [execution.error, execution.cause].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length === 0 ? '' : ` (${parts.join(': ').slice(0, 500)})`;
}
