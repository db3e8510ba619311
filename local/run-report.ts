import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '#core/errors.ts';
import type { ReportPublisher } from '#core/ports/report-publisher.ts';
import { buildReport, REPORT_JOBS, type ReportPeriod } from '#core/report/build-report.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { loadSettings } from '#core/settings.ts';
import { ensurePrivateDirectory, PRIVATE_FILE_MODE } from './private-files.ts';
import { WebhookReportPublisher, type WebhookOptions } from './report-webhook.ts';
import type { LocalRuntime } from './runtime.ts';

/** How long report files are kept under $CAIRN_HOME/reports/, by the time in their name. */
export const REPORT_RETENTION_DAYS = 30;

const FILE = /^report-(\d{8}T\d{6}Z)-(\d+)\.json$/;

/** The report of a period from the runtime's job table (the newest REPORT_JOBS jobs; `truncated` when there are more). */
export async function reportOfPeriod(runtime: Pick<LocalRuntime, 'jobs'>, period: ReportPeriod, now: Date): Promise<JobReport> {
  const jobs = await runtime.jobs.list({ limit: REPORT_JOBS + 1 });
  return buildReport(jobs.slice(0, REPORT_JOBS), period, now, { truncated: jobs.length > REPORT_JOBS });
}

/**
 * Writes the report as `$CAIRN_HOME/reports/report-<period end, UTC>-<n>.json`
 * (owner-only, as everything under the home; `n` keeps two reports of one
 * second apart) and removes report files whose time is more than
 * REPORT_RETENTION_DAYS before `now`. Returns the file written.
 */
export function writeReportFile(home: string, report: JobReport, now: Date): string {
  const dir = join(home, 'reports');
  ensurePrivateDirectory(dir);
  const stamp = report.period.to.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const existing = readdirSync(dir);
  let n = 1;
  while (existing.includes(`report-${stamp}-${n}.json`)) n++;
  const file = join(dir, `report-${stamp}-${n}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  const oldest = now.getTime() - REPORT_RETENTION_DAYS * 86_400_000;
  for (const name of existing) {
    const match = FILE.exec(name);
    if (!match) continue;
    const m = match[1]!;
    const at = Date.parse(`${m.slice(0, 4)}-${m.slice(4, 6)}-${m.slice(6, 8)}T${m.slice(9, 11)}:${m.slice(11, 13)}:${m.slice(13, 15)}Z`);
    if (at < oldest) rmSync(join(dir, name), { force: true });
  }
  return file;
}

/** What reporting one run came to; `problems` are told, never thrown. */
export interface RunReportOutcome {
  /** Absent when the job table could not be read (`problems` says why). */
  report?: JobReport;
  file?: string;
  webhook?: { url: string; sent: boolean };
  problems: string[];
}

export interface RunReporterOptions {
  /** Told each run's report once it is written and sent (the service prints it). */
  onReport: (outcome: RunReportOutcome) => void;
  /** A publisher for the webhook setting's URL; tests shorten the retry waits. */
  webhook?: (url: string) => ReportPublisher;
  webhookOptions?: WebhookOptions;
}

/**
 * The standalone service's completion report (savegrp's): a run is the jobs
 * the scheduler started from the moment nothing of its ran until nothing of
 * it runs again. When its last job ends, the report of [run start, now] is
 * built from the job table, written under $CAIRN_HOME/reports/, told to
 * `onReport`, and POSTed to the `reportWebhookUrl` setting when set. Nothing
 * here throws or waits for the jobs: the backup is over before its report is
 * made, and a report that fails is a problem told, never a job failed.
 */
export class RunReporter {
  readonly #runtime: Pick<LocalRuntime, 'jobs' | 'config' | 'clock' | 'home'>;
  readonly #options: RunReporterOptions;
  /** The executions of the run in progress that have not ended, by name. */
  readonly #running = new Set<string>();
  /** Ends told before their start (the run's promise settled before the tick's callback ran): that start is not counted. */
  readonly #endedEarly = new Set<string>();
  #runStart: Date | undefined;
  #pending: Promise<void> = Promise.resolve();

  constructor(runtime: Pick<LocalRuntime, 'jobs' | 'config' | 'clock' | 'home'>, options: RunReporterOptions) {
    this.#runtime = runtime;
    this.#options = options;
  }

  /** The scheduler started the execution `name` (LocalSchedulerHooks.onStarted, the due job's `executionName`). */
  started(name: string): void {
    if (this.#runStart === undefined) this.#runStart = this.#runtime.clock.now();
    if (this.#endedEarly.delete(name)) this.#reportIfIdle();
    else this.#running.add(name);
  }

  /** The execution `name` ended (LocalSchedulerHooks.onEnded): the last of a run reports it. */
  ended(name: string): void {
    if (!this.#running.delete(name)) {
      this.#endedEarly.add(name);
      return;
    }
    this.#reportIfIdle();
  }

  #reportIfIdle(): void {
    if (this.#running.size > 0 || this.#runStart === undefined) return;
    const period = { from: this.#runStart, to: this.#runtime.clock.now() };
    this.#runStart = undefined;
    this.#pending = this.#pending.then(() => this.#report(period));
  }

  /** Resolves once every report started so far was written and sent (or failed to be). */
  settled(): Promise<void> {
    return this.#pending;
  }

  async #report(period: ReportPeriod): Promise<void> {
    const problems: string[] = [];
    let report: JobReport;
    try {
      report = await reportOfPeriod(this.#runtime, period, this.#runtime.clock.now());
    } catch (error) {
      // Nothing to write or send: say why, once.
      this.#options.onReport({ problems: [`the run's report could not be built: ${messageOf(error)}`] });
      return;
    }
    const outcome: RunReportOutcome = { report, problems };
    try {
      outcome.file = writeReportFile(this.#runtime.home, report, this.#runtime.clock.now());
    } catch (error) {
      problems.push(`the report could not be written under ${this.#runtime.home}/reports: ${messageOf(error)}`);
    }
    try {
      const url = (await loadSettings(this.#runtime.config)).reportWebhookUrl;
      if (url !== undefined) {
        outcome.webhook = { url, sent: false };
        const publisher = this.#options.webhook?.(url) ?? new WebhookReportPublisher(url, this.#options.webhookOptions);
        await publisher.publish(report);
        outcome.webhook.sent = true;
      }
    } catch (error) {
      problems.push(messageOf(error));
    }
    this.#options.onReport(outcome);
  }
}
