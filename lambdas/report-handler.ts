import { z } from 'zod';
import type { Clock } from '#core/ports/clock.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { ReportPublisher } from '#core/ports/report-publisher.ts';
import { buildReport, REPORT_JOBS, type ReportPeriod } from '#core/report/build-report.ts';
import type { ReportTotals } from '#core/report/job-report.ts';
import { lastRun, periodSince } from '#core/report/report-period.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE } from '#core/ports/job-events.ts';
import { taskHandler, type HandlerObservability } from './handler-kit.ts';

/** Jobs less than this far apart belong to one run (a job queued by the next tick, a retry after its delay). */
export const RUN_GAP_SECONDS = 300;

/**
 * What invokes the report function: a job's end (the `JobEnded` rule, the
 * event as EventBridge delivers it), or the daily rule's constant input
 * `{ "since": "24h" }` (also what `aws lambda invoke` may pass).
 */
const ReportInput = z.union([
  z.object({
    source: z.literal(JOB_EVENT_SOURCE),
    'detail-type': z.literal(JOB_STATE_CHANGE),
    detail: z.object({ jobId: z.number().int().positive(), state: z.literal('DONE') }).passthrough(),
  }),
  z.object({ since: z.string().min(1) }).strict(),
]);

export type ReportAction =
  | { action: 'published'; period: { from: string; to: string }; totals: ReportTotals }
  /** The run is not over: a job is still queued or running; the last job's end will report it. */
  | { action: 'waiting'; jobId: number; running: number }
  /** The run is over but another job ended it: that job's event reports it. */
  | { action: 'not-last'; jobId: number; lastJobId?: number };

export interface ReportHandlerDeps {
  jobs: Pick<JobStore, 'list'>;
  clock: Clock;
  publisher: ReportPublisher;
}

/**
 * The report Lambda (savegrp's completion report in the cloud). On a job's
 * end it reads the recent jobs and publishes the report of the run that job
 * ended (core/report/report-period.ts `lastRun`), only when no job is still
 * queued or running and the job is the last of the run to end: of the ends
 * of one run, exactly one publishes (each reads the table after its own end
 * was written). EventBridge delivers at least once, so a run's report may
 * come twice; a run whose last two jobs end within the same instant may, in
 * a race, get none, and the daily report (`{ since }`) covers it.
 */
export function createReportHandler(deps: ReportHandlerDeps, observability?: HandlerObservability) {
  return taskHandler(
    ReportInput,
    'report',
    async (input): Promise<ReportAction> => {
      const now = deps.clock.now();
      const jobs = await deps.jobs.list({ limit: REPORT_JOBS + 1 });
      let period: ReportPeriod;
      if ('since' in input) period = periodSince(input.since, now);
      else {
        const jobId = input.detail.jobId;
        const run = lastRun(jobs, RUN_GAP_SECONDS);
        if (run === 'running') return { action: 'waiting', jobId, running: jobs.filter((j) => j.state !== 'DONE').length };
        if (run === undefined || run.lastJobId !== jobId) return { action: 'not-last', jobId, ...(run ? { lastJobId: run.lastJobId } : {}) };
        period = { from: run.from, to: run.to };
      }
      const report = buildReport(jobs.slice(0, REPORT_JOBS), period, now, { truncated: jobs.length > REPORT_JOBS });
      await deps.publisher.publish(report);
      return { action: 'published', period: report.period, totals: report.totals };
    },
    observability,
  );
}
