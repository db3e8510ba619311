/// <reference lib="dom" />
import { answer, type JobRow } from './api.ts';

/** One job as `GET /api/jobs/:id` returns it: the row, and what `cairn jobs show` adds (cli/monitor/jobs-view.ts JobDetailView). */
export interface JobDetail extends JobRow {
  /** Why Restart is refused; absent when the job can be restarted. */
  restartRefusal?: string;
  /** The job this one was restarted as (0 while it is being queued); a job is restarted once. */
  restartedAs?: number;
  bottleneck?: { verdict: string; label: string; because: string; figures: string };
  /** The measured usage priced for the stack's region; absent on the standalone runtime. */
  cost?: {
    region: string;
    pricesAsOf: string;
    priceNote?: string;
    lines: { service: string; what: string; quantity: number; unit: string; usd?: number; atLeast?: true; unknown?: string }[];
    totalUsd?: number;
    totalAtLeast: boolean;
    notMeasured: string[];
  };
  /** Bytes per second between the recorded samples (seconds since the epoch). */
  throughput?: { at: number; bytesPerSecond: number }[];
}

/** One row of the status codes' document (docs/status-codes.md). */
export interface StatusCodeRow {
  code: number;
  text: string;
  retried: boolean;
}

export async function fetchJobDetail(jobId: number): Promise<JobDetail> {
  return answer<JobDetail>(await fetch(`/api/jobs/${jobId}`));
}

/** Runs an ended backup again (what `cairn jobs restart` does); resolves with the new job's id once it is queued. */
export async function restartJob(jobId: number): Promise<{ restartedFrom: number; jobId: number }> {
  return answer(await fetch(`/api/jobs/${jobId}/restart`, { method: 'POST' }));
}

export async function fetchStatusCodes(): Promise<StatusCodeRow[]> {
  return (await answer<{ codes: StatusCodeRow[] }>(await fetch('/api/status-codes'))).codes;
}
