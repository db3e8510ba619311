import type { Job } from '../model/job.ts';
import { describeStatus, StatusCode } from '../status-codes.ts';
import { JobReport, REPORT_FORMAT, REPORT_VERSION, type ReportLine, type ReportOutcome, type ReportStream, type ReportTotals } from './job-report.ts';

/** The period a report covers: jobs that ended in [from, to], and jobs not ended at `to`. */
export interface ReportPeriod {
  from: Date;
  to: Date;
}

/** How many recent jobs a report reads (as many as a scheduler tick does): newest first, so the oldest of a long period may be missing (`truncated`). */
export const REPORT_JOBS = 5000;

/** How many names of unread (or not restored) files a partial job's reason shows. */
const REASON_NAMES = 3;

const ORDER: Record<ReportOutcome, number> = { failed: 0, partial: 1, success: 2, running: 3 };

const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso));

function outcomeOf(job: Job): ReportOutcome {
  if (job.state !== 'DONE') return 'running';
  if (job.statusCode === StatusCode.SUCCESS) return 'success';
  if (job.statusCode === StatusCode.PARTIAL_SUCCESS) return 'partial';
  // A DONE job without a status is a record fault: never counted as a success.
  return 'failed';
}

/** Whether the job belongs to the period on its own (a stream also belongs with its parent). */
function inPeriod(job: Job, period: ReportPeriod): boolean {
  const ended = ms(job.endedAt);
  if (job.state === 'DONE') return ended !== undefined && ended >= period.from.getTime() && ended <= period.to.getTime();
  return Date.parse(job.queuedAt) <= period.to.getTime();
}

function reasonOf(job: Job, outcome: ReportOutcome): string | undefined {
  if (outcome === 'running') return job.waitingReason;
  if (outcome === 'failed') return job.error ?? job.statusText ?? describeStatus(job.statusCode ?? StatusCode.INTERNAL_ERROR);
  if (outcome === 'partial') {
    const names = job.type === 'backup' ? job.unreadable : job.type === 'restore' ? job.notRestored : [];
    if (names.length === 0) return job.error;
    const shown = names.slice(0, REASON_NAMES).join(', ');
    const what = job.type === 'restore' ? 'not restored' : 'not read';
    return `${names.length} file(s) ${what}${names.length > REASON_NAMES ? ' (first ' + REASON_NAMES + ')' : ''}: ${shown}${job.error ? `; ${job.error}` : ''}`;
  }
  return undefined;
}

function lineOf(job: Job, period: ReportPeriod): ReportStream {
  const outcome = outcomeOf(job);
  const backup = job.type === 'backup' ? job : undefined;
  const started = ms(job.startedAt);
  const end = ms(job.endedAt) ?? (outcome === 'running' ? period.to.getTime() : undefined);
  const durationSeconds = started !== undefined && end !== undefined ? Math.max(0, (end - started) / 1000) : undefined;
  // A parent's own rate is its streams' sum over its time; any other job's is what its data path measured, when it reported it.
  const measured = backup?.childJobIds === undefined && job.progress.throughputBps > 0 ? job.progress.throughputBps : undefined;
  const throughputBps = measured ?? (durationSeconds !== undefined && durationSeconds > 0 ? job.progress.bytes / durationSeconds : undefined);
  const line: ReportStream = {
    jobId: job.jobId,
    // A restore rehearsal is a verify-kind job; the report names it for what it is.
    kind: job.type === 'verify' && job.rehearsal !== undefined ? 'rehearsal' : job.type,
    client: job.client,
    policy: backup?.policy,
    schedule: backup?.schedule,
    level: backup?.level,
    state: job.state,
    outcome,
    statusCode: job.state === 'DONE' ? job.statusCode : undefined,
    statusText: job.state === 'DONE' && job.statusCode !== undefined ? describeStatus(job.statusCode) : undefined,
    reason: reasonOf(job, outcome),
    attempt: job.attempt,
    files: job.progress.files,
    bytes: job.progress.bytes,
    durationSeconds,
    throughputBps,
    backupId: outcome === 'success' || outcome === 'partial' ? backup?.backupId : undefined,
    queuedAt: job.queuedAt,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
  };
  // Absent, not undefined: the JSON has the same keys whichever runtime wrote it.
  return Object.fromEntries(Object.entries(line).filter(([, value]) => value !== undefined)) as ReportStream;
}

const byOutcomeThenEnd = (a: ReportLine, b: ReportLine): number => ORDER[a.outcome] - ORDER[b.outcome] || (ms(a.endedAt) ?? Infinity) - (ms(b.endedAt) ?? Infinity) || a.jobId - b.jobId;

function totalsOf(lines: readonly ReportLine[]): ReportTotals {
  const ended = lines.filter((l) => l.outcome !== 'running');
  const starts = ended.map((l) => ms(l.startedAt) ?? ms(l.endedAt)!);
  const ends = ended.map((l) => ms(l.endedAt)!);
  const elapsedSeconds = ended.length === 0 ? 0 : Math.max(0, (Math.max(...ends) - Math.min(...starts)) / 1000);
  const bytes = ended.reduce((sum, l) => sum + l.bytes, 0);
  const statuses = new Map<number, number>();
  for (const l of ended) statuses.set(l.statusCode ?? StatusCode.INTERNAL_ERROR, (statuses.get(l.statusCode ?? StatusCode.INTERNAL_ERROR) ?? 0) + 1);
  return {
    jobs: lines.length,
    failed: lines.filter((l) => l.outcome === 'failed').length,
    partial: lines.filter((l) => l.outcome === 'partial').length,
    succeeded: lines.filter((l) => l.outcome === 'success').length,
    running: lines.filter((l) => l.outcome === 'running').length,
    files: ended.reduce((sum, l) => sum + l.files, 0),
    bytes,
    elapsedSeconds,
    throughputBps: elapsedSeconds > 0 ? bytes / elapsedSeconds : 0,
    byStatus: [...statuses].sort(([a], [b]) => a - b).map(([statusCode, jobs]) => ({ statusCode, statusText: describeStatus(statusCode), jobs })),
  };
}

/**
 * The completion report of a period from the jobs read for it (any order,
 * any kinds; jobs outside the period are left out here). Pure: the period
 * and the report's time come in as values.
 *
 * - A job is in the period when it ended in [from, to], or has not ended and
 *   was queued by `to` (still running or waiting when the report is made).
 * - A multiple-data-streams parent in the period lists its streams under it
 *   (lowest job id first), whenever they ended; a stream whose parent is not
 *   listed stands on its own.
 * - Order: failures (status 2 and up), then partial successes (1), then
 *   successes (0), then jobs still running; within each, by end time, then
 *   job id. A failure's reason is its error (else its status text); a partial
 *   job's, the first files it could not read or restore.
 * - `truncated` says the caller read fewer jobs than the table holds.
 */
export function buildReport(jobs: readonly Job[], period: ReportPeriod, generatedAt: Date, options: { truncated?: boolean } = {}): JobReport {
  const byId = new Map(jobs.map((job) => [job.jobId, job]));
  const parentOf = (job: Job): Job | undefined => {
    const parentId = job.type === 'backup' ? job.parentJobId : undefined;
    const parent = parentId === undefined ? undefined : byId.get(parentId);
    return parent !== undefined && inPeriod(parent, period) ? parent : undefined;
  };
  const childrenOf = new Map<number, Job[]>();
  for (const job of jobs) {
    const parentId = job.type === 'backup' ? job.parentJobId : undefined;
    if (parentId !== undefined) childrenOf.set(parentId, [...(childrenOf.get(parentId) ?? []), job]);
  }
  const lines: ReportLine[] = [];
  for (const job of jobs) {
    if (parentOf(job) !== undefined || !inPeriod(job, period)) continue;
    const line: ReportLine = lineOf(job, period);
    const children = [...(childrenOf.get(job.jobId) ?? [])].sort((a, b) => a.jobId - b.jobId);
    const childIds = job.type === 'backup' ? job.childJobIds : undefined;
    if (childIds !== undefined || children.length > 0) line.streams = children.map((child) => lineOf(child, period));
    lines.push(line);
  }
  lines.sort(byOutcomeThenEnd);
  const report = {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    period: { from: period.from.toISOString(), to: period.to.toISOString() },
    generatedAt: generatedAt.toISOString(),
    jobs: lines,
    totals: totalsOf(lines),
    ...(options.truncated ? { truncated: true as const } : {}),
  };
  // The schema is the contract: what leaves here always parses as it.
  return JobReport.parse(report);
}
