import { CairnError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { JobStore, ProgressOutcome } from '../ports/job-store.ts';
import type { TaskReporter } from '../ports/task-reporter.ts';
import { TaskGoneError, type TaskToken } from '../ports/task-token.ts';
import { StatusCode } from '../status-codes.ts';
import { recordProgress } from './job-service.ts';

export interface JobReporterOptions {
  jobs: JobStore;
  jobId: number;
  /** Stamps each progress write (`updatedAt`). */
  clock: Clock;
  /** Aborted when the job record says the job has ended: the agent stops at its next look at the signal. */
  abort: AbortController;
  /** Liveness to the workflow: a task heartbeat on AWS, nothing in-process (the agent's liveness is the engine's own). */
  heartbeat: () => Promise<void>;
  /** Told of a progress write that failed, before the failure is passed on (the SSM agent writes it to stderr). */
  onProgressFailure?: (error: unknown) => void;
}

/**
 * The cancel-aware job-record reporter, one for every runtime (the in-process
 * agent of the standalone engine and the SSM agent): progress goes to the job
 * record in one conditional write (`JobStore.recordProgress`, recorded only
 * while the job is ACTIVE), and a write the store refuses because the job has
 * ended (`cairn jobs cancel` from another process, the janitor) aborts the
 * work, so the agent stops within one report interval. No read of the record
 * is needed, so the agent's role needs no GetItem on the Jobs table.
 */
export function jobRecordReporter(options: JobReporterOptions): TaskReporter {
  const { jobs, jobId, clock, abort } = options;
  /** Aborts the work when the outcome says the job is no longer wanted; true while it is. */
  const stillWanted = (outcome: ProgressOutcome): boolean => {
    if (outcome.recorded || (outcome.state !== undefined && outcome.state !== 'DONE')) return true;
    const why = outcome.state === undefined ? `job ${jobId} no longer exists` : `job ${jobId} was ended (status ${outcome.statusCode})`;
    abort.abort(new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, why));
    return false;
  };
  return {
    progress: async (update) => {
      if (abort.signal.aborted) return;
      try {
        stillWanted(await recordProgress(jobs, jobId, update, clock.now()));
      } catch (error) {
        options.onProgressFailure?.(error);
        throw error;
      }
    },
    heartbeat: async () => {
      if (abort.signal.aborted) return;
      // An empty report only stamps updatedAt: a second way to learn of a cancel
      // while no progress moves. A failed write must not cost the workflow its
      // heartbeat (a failed heartbeat ends the work).
      const outcome = await recordProgress(jobs, jobId, {}, clock.now()).catch(() => ({ recorded: true }) as const);
      if (stillWanted(outcome)) await options.heartbeat();
    },
  };
}

/**
 * The task-token side of TaskReporter: a heartbeat goes to the workflow, and
 * a workflow that stopped waiting (timed out, 41; execution ended, 150)
 * aborts the work with the TaskGoneError. Progress is not the workflow's
 * business (it goes to the job record), so `progress` only resolves.
 */
export function taskTokenReporter(token: TaskToken, abort: AbortController): TaskReporter {
  return {
    progress: async () => undefined,
    heartbeat: async () => {
      if (abort.signal.aborted) return;
      try {
        await token.heartbeat();
      } catch (error) {
        if (!(error instanceof TaskGoneError)) throw error;
        abort.abort(error);
      }
    },
  };
}
