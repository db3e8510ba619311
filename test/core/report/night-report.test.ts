import { describe, expect, it } from 'vitest';
import { buildReport } from '#core/report/build-report.ts';
import { JobReport } from '#core/report/job-report.ts';
import { lastRun, periodSince } from '#core/report/report-period.ts';
import { renderReportText } from '#core/report/render-text.ts';
import { NIGHT_END, nightJobs } from './night.ts';

const GiB = 1024 ** 3;

describe('the completion report of a night of mixed results', () => {
  const period = periodSince('24h', NIGHT_END);
  // Prepare: the table's order (newest first, as JobStore.list returns it) must not matter.
  const report = buildReport([...nightJobs()].reverse(), period, NIGHT_END);

  it('lists failures first (by end), then the partial job, then successes, then the running job; the job outside the window is left out', () => {
    expect(report.jobs.map((l) => [l.jobId, l.outcome])).toEqual([
      [6, 'failed'],
      [5, 'failed'],
      [7, 'failed'],
      [4, 'partial'],
      [3, 'success'],
      [2, 'success'],
      [8, 'success'],
      [12, 'success'],
      [11, 'running'],
    ]);
    expect(report.jobs.some((l) => l.jobId === 1)).toBe(false);
  });

  it('gives each failure its status code, text and reason (the job error, else the status text)', () => {
    const byId = new Map(report.jobs.map((l) => [l.jobId, l]));
    expect(byId.get(5)).toMatchObject({ statusCode: 219, statusText: 'the required storage unit is unavailable', reason: 'storage unit tape-1 is DOWN', attempt: 2, client: 'mail', policy: 'nightly', schedule: 'daily-incr', level: 'differential-incremental' });
    expect(byId.get(5)).not.toHaveProperty('durationSeconds');
    expect(byId.get(6)).toMatchObject({ statusCode: 13, statusText: 'file read failed', reason: '/srv/share: input/output error', durationSeconds: 300, throughputBps: 10 });
    // A failed job wrote no image: the report names none.
    expect(byId.get(6)).not.toHaveProperty('backupId');
    expect(byId.get(7)).toMatchObject({ statusCode: 196, reason: 'client backup was not attempted because backup window closed' });
    expect(byId.get(4)).toMatchObject({ statusCode: 1, reason: '2 file(s) not read: /srv/db/lock: permission denied, /srv/db/tmp.sock: not a regular file', backupId: 'db1_1796248860', throughputBps: 1 });
  });

  it('computes duration and throughput: the measured rate when the agent reported one, else bytes over duration', () => {
    const byId = new Map(report.jobs.map((l) => [l.jobId, l]));
    expect(byId.get(2)).toMatchObject({ level: 'full', schedule: 'weekly-full', files: 5000, bytes: 10 * GiB, durationSeconds: 1000, throughputBps: 12 * 1024 * 1024, backupId: 'web1_1796248800' });
    expect(byId.get(3)).toMatchObject({ durationSeconds: 512, throughputBps: 2 * 1024 * 1024 });
    expect(byId.get(11)).toMatchObject({ state: 'ACTIVE', durationSeconds: 3600, bytes: 2 * GiB });
    expect(byId.get(11)).not.toHaveProperty('statusCode');
    expect(byId.get(12)).toMatchObject({ kind: 'restore', client: 'web1', durationSeconds: 10 });
    expect(byId.get(12)).not.toHaveProperty('policy');
  });

  it('groups the streams of the multi-stream parent under it, and the parent counts once', () => {
    const parent = report.jobs.find((l) => l.jobId === 8)!;
    expect(parent.streams?.map((s) => [s.jobId, s.outcome, s.bytes, s.backupId])).toEqual([
      [9, 'success', 2000, 'nas_1796252401'],
      [10, 'success', 4000, 'nas_1796252402'],
    ]);
    // Its rate is its streams' bytes over its own time (both streams ran at once).
    expect(parent).toMatchObject({ bytes: 6000, durationSeconds: 600, throughputBps: 10 });
    expect(report.jobs.filter((l) => l.jobId === 9 || l.jobId === 10)).toEqual([]);
  });

  it('adds up the totals over ended jobs: counts, files, bytes, wall-clock time and throughput, and jobs by status', () => {
    const bytes = 10 * GiB + GiB + 3600 + 3000 + 6000 + 30;
    // From the first start (22:00:00) to the last end (02:00:00): 4 hours.
    expect(report.totals).toEqual({
      jobs: 9,
      failed: 3,
      partial: 1,
      succeeded: 4,
      running: 1,
      files: 5000 + 300 + 700 + 12 + 30 + 3,
      bytes,
      elapsedSeconds: 4 * 3600,
      throughputBps: bytes / (4 * 3600),
      byStatus: [
        { statusCode: 0, statusText: 'the requested operation was successfully completed', jobs: 4 },
        { statusCode: 1, statusText: 'the requested operation was partially successful', jobs: 1 },
        { statusCode: 13, statusText: 'file read failed', jobs: 1 },
        { statusCode: 196, statusText: 'client backup was not attempted because backup window closed', jobs: 1 },
        { statusCode: 219, statusText: 'the required storage unit is unavailable', jobs: 1 },
      ],
    });
  });

  it('is a versioned document its own schema accepts, and renders as a table with failures and their reasons first', () => {
    expect(JobReport.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(report).toMatchObject({ format: 'cairn-report', version: 1, period: { from: '2026-12-02T06:00:00.000Z', to: '2026-12-03T06:00:00.000Z' } });
    const text = renderReportText(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Cairn report: 3 failed, 1 partial, 4 succeeded, 1 running (2026-12-02T06:00:00.000Z to 2026-12-03T06:00:00.000Z)');
    const row = (jobId: string): number => lines.findIndex((l) => l.startsWith(`${jobId} `) || l.startsWith(`  └ ${jobId} `));
    expect(row('6')).toBeLessThan(row('5'));
    expect(row('4')).toBeLessThan(row('3'));
    expect(lines[row('6') + 1]).toBe('      file read failed: /srv/share: input/output error');
    expect(lines[row('5') + 1]).toBe('      the required storage unit is unavailable: storage unit tape-1 is DOWN');
    expect(row('9')).toBe(row('8') + 1);
    expect(lines[row('9')]).toMatch(/^ {2}└ 9 +0 +nas/);
    expect(lines[row('2')]).toMatch(/^2 +0 +web1 +nightly +weekly-full +full +5000 +10\.0 GiB +16m40s +12\.0 MiB\/s +2026-12-02T22:16:40Z$/);
    expect(text).toContain('Totals: 9 job(s); 6045 files, 11.0 GiB in 4h (');
    expect(text).toContain('  status 219 (the required storage unit is unavailable): 1');
  });

  it('keeps a reason with line breaks on its one line of the table', () => {
    const jobs = nightJobs().map((j) => (j.jobId === 6 ? { ...j, error: 'first line\nsecond line\r\n\tthird' } : j));
    const text = renderReportText(buildReport(jobs, period, NIGHT_END));
    expect(text).toContain('      file read failed: first line second line third\n');
  });

  it('reports an empty period as such', () => {
    const empty = buildReport(nightJobs(), periodSince('1m', new Date('2026-11-01T00:00:00Z')), NIGHT_END);
    expect(empty.jobs).toEqual([]);
    expect(empty.totals).toMatchObject({ jobs: 0, bytes: 0, elapsedSeconds: 0, throughputBps: 0, byStatus: [] });
    expect(renderReportText(empty)).toContain('No jobs in this period.');
  });
});

describe('the report period', () => {
  it('reads a duration back from now or an ISO time, and refuses anything else naming the value', () => {
    expect(periodSince('90m', NIGHT_END).from.toISOString()).toBe('2026-12-03T04:30:00.000Z');
    expect(periodSince('2026-12-01T18:00:00+01:00', NIGHT_END).from.toISOString()).toBe('2026-12-01T17:00:00.000Z');
    expect(() => periodSince('yesterday', NIGHT_END)).toThrow(/invalid report period/);
    expect(() => periodSince('2027-01-01T00:00:00Z', NIGHT_END)).toThrow(/invalid report period/);
    expect(() => periodSince('100000w', NIGHT_END)).toThrow(/before 1970/);
  });

  it('finds the last run: the busy period that ended with the last job, not while a job still runs', () => {
    const jobs = nightJobs();
    expect(lastRun(jobs, 300)).toBe('running');
    const ended = jobs.filter((j) => j.jobId !== 11);
    // 22:00 to 02:00 is one run (overlapping jobs), the restore at 01:00 falls inside it; the night before is another run.
    expect(lastRun(ended, 300)).toEqual({ from: new Date('2026-12-02T22:00:00Z'), to: new Date('2026-12-03T02:00:00Z'), lastJobId: 7 });
    expect(lastRun(ended.filter((j) => j.jobId === 1), 300)).toMatchObject({ lastJobId: 1 });
    expect(lastRun([], 300)).toBeUndefined();
  });
});
