import type { JobRef } from '#core/jobs/job-service.ts';
import { advanceParent, type StreamDeps } from '#core/jobs/stream-advance.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import type { ExecutionStatuses } from '#core/ports/execution-status.ts';
import { messageOf, statusOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { OPEN_EXECUTION_STATUSES, failureText, statusOfEnded } from './follow-execution.ts';

/** How `cairn --aws backup` follows the parent job of a multiple-data-streams policy it started. */
export interface FollowParentOptions {
  /** The parent's job id (multiStreamStarter queued it under the execution name the CLI chose). */
  parentJobId: number;
  /** The stores, the backup-job starter (never `multiStreamStarter`) and the agents, as the scheduler's tick has them. */
  streams: StreamDeps;
  /** The streams' backup-job executions. */
  executions: ExecutionStatuses;
  now: () => Date;
  /** Waits before the next look (2 s against a stack). */
  pause: () => Promise<void>;
  /**
   * Looks after which a stream's execution that Step Functions does not know,
   * or that has ended while its job is not DONE, stops the following
   * (default 15: about 30 s against a stack, long enough for the janitor,
   * which ends such a job on the execution's event, to have done so).
   */
  unknownLooks?: number;
}

/**
 * Follows a parent job to DONE the way the scheduler's tick moves it: each
 * look is one `advanceParent` (core/jobs/stream-advance.ts, the tick's own
 * step), which starts the streams the limit allows as earlier ones end and
 * ends the parent with `parentOutcome` once every stream has ended. The
 * parent's status is then the run's, as in the standalone runtime
 * (local/multi-stream-job.ts). Both may advance one parent at once: every
 * step is decided from the stores, and a stream's execution name starts it
 * at most once. If this process goes away, the tick carries on.
 *
 * It always ends: a stream whose execution is unknown to Step Functions or
 * has ended without its job ending (nothing ended it yet) for `unknownLooks`
 * looks ends the following with the execution's status (150 stopped, 41
 * timed out, 2000 failed), saying that the parent stays ACTIVE until the
 * scheduler's sweep ends the stream; so does a parent that cannot be
 * advanced for as many looks in a row.
 */
export async function followParent(options: FollowParentOptions): Promise<BackupRun> {
  const { streams, parentJobId } = options;
  const limit = options.unknownLooks ?? 15;
  const looks = new Map<string, number>();
  let failures = 0;
  for (;;) {
    await options.pause();
    const parent = asKind(await streams.jobs.get(parentJobId), 'backup');
    if (!parent) return { jobId: parentJobId, statusCode: StatusCode.INTERNAL_ERROR, error: `the parent job ${parentJobId} is no longer in the Jobs table` };
    if (parent.state === 'DONE') return doneRun(parent);
    let stuck: BackupRun | undefined;
    try {
      const step = await advanceParent(streams, parent, options.now());
      if (step.ended) return doneRun(asKind(await streams.jobs.get(parentJobId), 'backup') ?? parent);
      stuck = await stuckStream(options, parent, looks, limit);
      failures = 0;
    } catch (error) {
      // A throttled or failed call: the next look tries again, as the next tick would.
      if (++failures >= limit) return { jobId: parentJobId, statusCode: statusOf(error), error: `the parent job ${parentJobId} could not be advanced ${failures} times in a row (${messageOf(error)}); it stays ACTIVE and the scheduler's tick goes on advancing it` };
      continue;
    }
    if (stuck) return stuck;
  }
}

/** The run of a parent that has ended: its status and why, as the standalone runtime returns it. */
function doneRun(parent: BackupJob): BackupRun {
  return { jobId: parent.jobId, statusCode: parent.statusCode ?? StatusCode.INTERNAL_ERROR, ...(parent.error ? { error: parent.error } : {}) };
}

/**
 * The first started stream whose execution has been unknown, or ended while
 * its job is not DONE, for `limit` looks in a row (counted in `looks` by
 * execution name), as the run to end the following with.
 */
async function stuckStream(options: FollowParentOptions, parent: BackupJob, looks: Map<string, number>, limit: number): Promise<BackupRun | undefined> {
  const streamNames = Object.keys(parent.streaming?.startedAt ?? {});
  for (const name of streamNames) {
    const job = await options.streams.jobs.findByExecution(name);
    if (job?.state === 'DONE') {
      looks.delete(name);
      continue;
    }
    const execution = await options.executions.describe(name);
    if (execution !== undefined && OPEN_EXECUTION_STATUSES.has(execution.status)) {
      looks.delete(name);
      continue;
    }
    const seen = (looks.get(name) ?? 0) + 1;
    looks.set(name, seen);
    if (seen < limit) continue;
    const left = `the parent job ${parent.jobId} stays ACTIVE until the scheduler's tick ends it`;
    if (execution === undefined) return { jobId: parent.jobId, statusCode: StatusCode.INTERNAL_ERROR, error: `Step Functions does not know the execution ${name} of a stream this backup started; ${left}` };
    const why = failureText(execution);
    if (job === undefined) return { jobId: parent.jobId, statusCode: statusOfEnded(execution.status), error: `the execution ${name} of a stream ended ${execution.status} without queueing a job${why}; ${left}` };
    return { jobId: parent.jobId, statusCode: statusOfEnded(execution.status), error: `the execution ${name} ended ${execution.status} while stream job ${job.jobId} was ${job.state}${why}; that job and the parent job ${parent.jobId} stay open until the scheduler's sweep ends the stream` };
  }
  return undefined;
}

/** The parent as `onQueued` names it. */
export function parentRef(parent: BackupJob): JobRef {
  return { jobId: parent.jobId, client: parent.client, policy: parent.policy, schedule: parent.schedule };
}
