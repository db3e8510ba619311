import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { JOB_DETAILS_LIMIT } from '../model/job.ts';
import { failureMessage, type JobOutcome } from '../jobs/job-service.ts';
import { recordTapeError } from '../media/tape-error-recording.ts';
import { tapeFaultsIn, withoutTapeFaultTags } from '../media/tape-fault.ts';

/**
 * What Release does with a tape job's failure that carries tape faults (the
 * agent's `[tape-fault ...]` tags, core/media/tape-fault.ts): each goes into
 * the media manager's error history of its volume (the tag's, else the one
 * the job holds) and drive, the error policy freezes the volume or takes the
 * drive DOWN (core/media/tape-error-recording.ts), and the job's detailed
 * status says what was done. Idempotent, as Release must be: a second run
 * for the same attempt records nothing more and repeats no detail line.
 */
export async function recordTapeFaults(
  deps: { emm: MediaDatabase; config: ConfigStore; jobs?: JobStore },
  jobId: number,
  now: Date,
  outcome: JobOutcome | undefined,
  held: { drive: string; mediaId: string },
): Promise<string[]> {
  const cause = outcome?.failure?.Cause;
  if (cause === undefined) return [];
  const reports = unique(tapeFaultsIn(cause));
  if (reports.length === 0) return [];
  const job = deps.jobs ? await deps.jobs.get(jobId) : undefined;
  const attempt = job?.attempt ?? 1;
  const message = withoutTapeFaultTags(failureMessage(outcome!.failure!));
  const lines: string[] = [];
  for (const report of reports) {
    lines.push(...(await recordTapeError(deps, { report: { ...report, mediaId: report.mediaId ?? held.mediaId }, jobId, attempt, message, at: now })));
  }
  if (deps.jobs && job) await addDetails(deps.jobs, jobId, now, lines.map((line) => `attempt ${attempt}: ${line}`));
  return lines;
}

/** Appends lines to the job's detailed status, each once (a retried step repeats none), keeping the newest JOB_DETAILS_LIMIT. */
export async function addDetails(jobs: JobStore, jobId: number, at: Date, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await jobs.update(jobId, (job) => {
    const known = new Set((job.details ?? []).map((d) => d.message));
    const added = lines.filter((line) => !known.has(line)).map((message) => ({ at: at.toISOString(), message: message.slice(0, 2048) }));
    return added.length === 0 ? job : { ...job, details: [...(job.details ?? []), ...added].slice(-JOB_DETAILS_LIMIT) };
  });
}

function unique<T>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
