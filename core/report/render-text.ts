import { formatDuration } from '../model/durations.ts';
import type { JobReport, ReportLine, ReportStream } from './job-report.ts';

/** Bytes in binary units, as the CLI shows them (cli/output.ts has the same rule; core cannot import it). */
export function reportBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Control characters (a line break in an error text, say) as spaces, so one job stays on its lines of the table. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const oneLine = (text: string): string => text.replace(/[\u0000-\u001f\u007f]+/g, ' ');

const seconds = (value: number | undefined): string => (value === undefined ? '' : formatDuration(Math.round(value)));
const rate = (value: number | undefined): string => (value === undefined ? '' : `${reportBytes(Math.round(value))}/s`);
const status = (line: ReportStream): string => (line.statusCode === undefined ? line.state.toLowerCase() : String(line.statusCode));

const HEADERS = ['JOBID', 'STATUS', 'CLIENT', 'POLICY', 'SCHEDULE', 'LEVEL', 'FILES', 'BYTES', 'DURATION', 'RATE', 'ENDED'];

function row(line: ReportStream, stream: boolean): string[] {
  return [stream ? `  └ ${line.jobId}` : String(line.jobId), status(line), oneLine(line.client), oneLine(line.policy ?? line.kind), line.schedule ?? '', line.level ?? '', String(line.files), reportBytes(line.bytes), seconds(line.durationSeconds), rate(line.throughputBps), line.endedAt ?? ''];
}

/** The report's one-line summary (also the SNS subject and the head of the text). */
export function reportSummary(report: JobReport): string {
  const t = report.totals;
  const parts = [`${t.failed} failed`, `${t.partial} partial`, `${t.succeeded} succeeded`, ...(t.running > 0 ? [`${t.running} running`] : [])];
  return `Cairn report: ${parts.join(', ')}`;
}

/**
 * The report as a readable table (what `cairn report` prints, the body of
 * the cloud report's e-mail): a summary, then one row per job in the
 * report's order, each failure or partial job followed by its reason on an
 * indented line, streams indented under their parent, then the totals.
 */
export function renderReportText(report: JobReport): string {
  const t = report.totals;
  const rows: { cells: string[]; note?: string }[] = [];
  const noteOf = (line: ReportStream): string | undefined => (line.reason !== undefined && line.outcome !== 'success' ? `${line.outcome === 'running' ? 'waiting' : line.statusText ?? 'reason'}: ${oneLine(line.reason)}` : undefined);
  const add = (line: ReportLine | ReportStream, stream: boolean): void => {
    rows.push({ cells: row(line, stream), note: noteOf(line) });
    for (const child of 'streams' in line ? (line.streams ?? []) : []) add(child, true);
  };
  for (const line of report.jobs) add(line, false);
  const widths = HEADERS.map((header, i) => Math.max(header.length, ...rows.map((r) => r.cells[i]!.length)));
  const format = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [
    `${reportSummary(report)} (${report.period.from} to ${report.period.to})`,
    '',
    ...(rows.length === 0 ? ['No jobs in this period.'] : [format(HEADERS), ...rows.flatMap((r) => [format(r.cells), ...(r.note === undefined ? [] : [`      ${r.note}`])])]),
    '',
    `Totals: ${t.jobs} job(s); ${t.files} files, ${reportBytes(t.bytes)} in ${seconds(t.elapsedSeconds) || '0s'} (${rate(t.throughputBps)})`,
    ...t.byStatus.map((s) => `  status ${s.statusCode} (${s.statusText}): ${s.jobs}`),
    ...(report.truncated ? ['Only the newest jobs of the job table were read: older jobs of this period may be missing.'] : []),
    `Generated ${report.generatedAt}.`,
  ];
  return `${out.join('\n')}\n`;
}
