import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { periodSince } from '#core/report/report-period.ts';
import { buildReport, REPORT_JOBS } from '#core/report/build-report.ts';
import { renderReportText } from '#core/report/render-text.ts';
import { messageOf } from '#core/errors.ts';
import { WebhookReportPublisher } from '#local/report-webhook.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { note, printJson } from '../output.ts';

/**
 * `cairn report` (savegrp's completion report, on demand): every job of the
 * period, failures first with their reasons, then partial successes,
 * successes and jobs still running, and the totals. Standalone it reads the
 * SQLite job table; `cairn --aws report` the DynamoDB one. It exits 0 when
 * the report was made, whatever the jobs' statuses: it reports them, it is
 * not one of them. A webhook that refuses the report is told on stderr and
 * exits 1 (the report was still printed and written).
 */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description('completion report: every job of a period, failures first (like the savegrp report)')
    .option('--since <period>', 'a duration back from now (24h, 90m, 7d) or an ISO 8601 time', '24h')
    .option('--json', 'print the report as JSON (core/report/job-report.ts, versioned)')
    .option('--out <file>', 'also write the JSON report to this file')
    .option('--webhook <url>', 'also POST the JSON report to this URL (https:, or http: to this machine)')
    .action(async (options: { since: string; json?: boolean; out?: string; webhook?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      // Refused before anything is opened: a typo in the URL is a usage error, not a failed send.
      const webhook = options.webhook === undefined ? undefined : new WebhookReportPublisher(options.webhook);
      await withBackend(globals, async (backend) => {
        const now = backend.clock.now();
        const period = periodSince(options.since, now);
        const jobs = await backend.jobs.list({ limit: REPORT_JOBS + 1 });
        const report = buildReport(jobs.slice(0, REPORT_JOBS), period, now, { truncated: jobs.length > REPORT_JOBS });
        if (options.json ?? globals.json) printJson(report);
        else process.stdout.write(renderReportText(report));
        if (options.out !== undefined) writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
        if (webhook !== undefined) {
          try {
            await webhook.publish(report);
            note(`cairn: report sent to ${options.webhook}`);
          } catch (error) {
            note(`cairn: ${messageOf(error)}`);
            process.exitCode = 1;
          }
        }
      });
    });
}
