import type { Job } from '../model/job.ts';
import { durationSeconds } from '../model/durations.ts';
import { IsoTime } from '../model/names.ts';
import { ValidationError } from '../errors.ts';
import type { ReportPeriod } from './build-report.ts';

/**
 * The period of `cairn report --since X` at `now`: X is a duration back from
 * now (`24h`, `90m`, `7d`, as policies write them) or an ISO 8601 time with
 * its offset. ValidationError naming the value otherwise, or for a time
 * after `now`.
 */
export function periodSince(since: string, now: Date): ReportPeriod {
  const seconds = durationSeconds(since.trim());
  if (typeof seconds === 'number') {
    // Before 1970 no job ran, and far enough back a time has no ISO 8601 form the report could carry.
    if (seconds * 1000 > now.getTime()) throw new ValidationError('invalid report period', [`--since ${since}: reaches back before 1970-01-01`]);
    return { from: new Date(now.getTime() - seconds * 1000), to: now };
  }
  if (IsoTime.safeParse(since.trim()).success) {
    const from = new Date(since.trim());
    if (from.getTime() > now.getTime()) throw new ValidationError('invalid report period', [`--since ${since}: after now (${now.toISOString()})`]);
    return { from, to: now };
  }
  throw new ValidationError('invalid report period', [`--since ${since}: ${seconds}, or an ISO 8601 time with its offset (2026-12-01T18:00:00Z)`]);
}

/** The last run: its period, and the job that ended it (the one whose end event publishes its report). */
export interface LastRun extends ReportPeriod {
  lastJobId: number;
}

/**
 * The jobs' last run, as the cloud report function sees a scheduler run
 * (NetWorker's savegroup) from the job table alone: the busy period that
 * ends with the last job to end. Jobs whose times [queued, ended] overlap,
 * or are less than `gapSeconds` apart (a job queued by the next tick), are
 * one run. `running` while any job has not ended: the run is not over.
 * Undefined with no ended job.
 */
export function lastRun(jobs: readonly Job[], gapSeconds: number): LastRun | 'running' | undefined {
  if (jobs.some((job) => job.state !== 'DONE')) return 'running';
  const ended = jobs
    .filter((job) => job.endedAt !== undefined)
    .map((job) => ({ jobId: job.jobId, from: Date.parse(job.queuedAt), to: Date.parse(job.endedAt!) }))
    .sort((a, b) => b.to - a.to || b.jobId - a.jobId);
  const last = ended[0];
  if (last === undefined) return undefined;
  let from = last.from;
  for (const job of ended) {
    // Ends come latest first: the first that ended before the run began (less the gap) ends the run's past.
    if (job.to < from - gapSeconds * 1000) break;
    from = Math.min(from, job.from);
  }
  return { from: new Date(from), to: new Date(last.to), lastJobId: last.jobId };
}
