import type { DataPathTimes } from '../model/task.ts';
import type { UsageCounters } from '../model/job-usage.ts';
import type { ThroughputSample } from '../model/job.ts';

/** What a running task reports: figures for the job record (the Activity Monitor). */
export interface TaskProgress {
  files: number;
  bytes: number;
  throughputBps: number;
  writerWaits: number;
  readerWaits: number;
  currentPath?: string;
  /** Where the time went so far (the figures behind the bottleneck verdict). */
  times?: DataPathTimes;
  /** The agent's requests to the cloud services so far (its totals), when its runtime counts them. */
  usage?: UsageCounters;
  /** Throughput over time so far, the whole bounded series (core/jobs/throughput-series.ts), when the task keeps one. */
  samples?: ThroughputSample[];
}

/**
 * What the agent reports through while it works: progress to the job record,
 * liveness to the workflow that waits for it (bpbrm hearing from bpbkar).
 *
 * Contract:
 * - While the task is wanted, `progress` and `heartbeat` resolve and the
 *   work's abort signal stays untouched.
 * - Once the task is no longer wanted (the job was ended by an administrator,
 *   the workflow stopped waiting), the next report aborts the work with a
 *   CairnError whose status code says why (150 ended, 41 timed out) and
 *   resolves: the agent stops at its next look at the signal.
 * - After that, reports resolve and change nothing.
 * - A report that fails for any other reason rejects and leaves the work
 *   running: the caller decides (progress is advisory, a failed heartbeat is
 *   retried by the next one).
 */
export interface TaskReporter {
  progress(update: TaskProgress): Promise<void>;
  heartbeat(): Promise<void>;
}
