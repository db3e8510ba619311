import { CairnError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { TaskReporter } from '../ports/task-reporter.ts';
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
}

/**
 * The cancel-aware job-record reporter, one for every runtime (the in-process
 * agent of the standalone engine and the SSM agent): progress goes to the job
 * record; every report first reads the record, and a job already ended
 * (`cairn jobs cancel` from another process, the janitor) aborts the work
 * instead, so the agent stops within one report interval.
 */
export function jobRecordReporter(options: JobReporterOptions): TaskReporter {
  const { jobs, jobId, clock, abort } = options;
  /** True while the job is still wanted; aborts the work the first time it is not. */
  const stillWanted = async (): Promise<boolean> => {
    if (abort.signal.aborted) return false;
    const job = await jobs.get(jobId);
    if (job !== undefined && job.state !== 'DONE') return true;
    const why = job === undefined ? `job ${jobId} no longer exists` : `job ${jobId} was ended (status ${job.statusCode})`;
    abort.abort(new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, why));
    return false;
  };
  return {
    progress: async (update) => {
      if (await stillWanted()) await recordProgress(jobs, jobId, update, clock.now());
    },
    heartbeat: async () => {
      // Here the job record is only a second way to learn of a cancel: a failed
      // read must not cost the workflow its heartbeat (a failed heartbeat ends the work).
      if (await stillWanted().catch(() => true)) await options.heartbeat();
    },
  };
}
