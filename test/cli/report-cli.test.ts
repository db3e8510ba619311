import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { samplePolicy } from '../contracts/fixtures.ts';
import { join } from 'node:path';
import { openLocalRuntime } from '#local/runtime.ts';
import { JobReport } from '#core/report/job-report.ts';
import { nightJobs } from '../core/report/night.ts';
import { runCairn } from './cli-process.ts';

describe('cairn report (standalone: the SQLite job table)', () => {
  let work: string;
  let home: string;
  beforeAll(async () => {
    mkdirSync('/tmp/i12-report', { recursive: true });
    work = mkdtempSync('/tmp/i12-report/cli-');
    home = join(work, 'home');
    const rt = await openLocalRuntime({ home });
    for (const job of nightJobs()) await rt.jobs.create(job);
    rt.close();
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  // The night ended on 2026-12-03 at 06:00Z; the report runs now, so its period starts at a fixed time and runs to now.
  // Every command runs the janitor first: the ACTIVE job 11, which no process runs, is ended as orphaned (2002) and so is the last failure.
  const since = ['--since', '2026-12-02T06:00:00Z'];

  it('prints the JSON report, writes it to --out, failures first, the night before left out', async () => {
    const out = join(work, 'night.json');
    const result = await runCairn(home, ['report', ...since, '--json', '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JobReport.parse(JSON.parse(result.stdout));
    expect(report.jobs.map((l) => l.jobId)).toEqual([6, 5, 7, 11, 4, 3, 2, 8, 12]);
    expect(report.totals).toMatchObject({ jobs: 9, failed: 4, partial: 1, succeeded: 4, running: 0 });
    expect(report.jobs[3]).toMatchObject({ jobId: 11, statusCode: 2002, outcome: 'failed' });
    expect(JobReport.parse(JSON.parse(readFileSync(out, 'utf8')))).toEqual(report);
  });

  it('prints the table by default, and refuses a bad period or a clear-text webhook as usage errors', async () => {
    const text = await runCairn(home, ['report', ...since]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^Cairn report: 4 failed, 1 partial, 4 succeeded \(2026-12-02T06:00:00.000Z to /);
    expect(text.stdout).toContain('      the required storage unit is unavailable: storage unit tape-1 is DOWN');
    const bad = await runCairn(home, ['report', '--since', 'yesterday']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--since yesterday/);
    const hook = await runCairn(home, ['report', '--webhook', 'http://reports.example.com/x']);
    expect(hook.code).not.toBe(0);
    expect(hook.stderr).toMatch(/http: only to this machine/);
  });
});

describe('cairn local serve --once (the run report of the standalone service)', () => {
  let work: string;
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('prints the run report when its job ended and writes it under $CAIRN_HOME/reports', async () => {
    mkdirSync('/tmp/i12-report', { recursive: true });
    work = mkdtempSync('/tmp/i12-report/serve-');
    const home = join(work, 'home');
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'f.txt'), 'hello');
    const rt = await openLocalRuntime({ home });
    const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
    await rt.config.putPolicy(samplePolicy('served', { selections: [join(work, 'data')], storageUnit: 'local-disk', clients: [{ name: 'srv1', priority: 1 }], schedules: [{ name: 'full', type: 'full', frequency: 3600, windows: [{ days: [...days], start: '00:00', duration: 86400 }], retention: { days: 1 } }] }));
    rt.close();

    const served = await runCairn(home, ['local', 'serve', '--once']);

    expect(served.code).toBe(0);
    expect(served.stdout).toMatch(/^Cairn report: 0 failed, 0 partial, 1 succeeded \(/);
    expect(served.stdout).toMatch(/\n1 +0 +srv1 +served +full +full +2 +/);
    const files = readdirSync(join(home, 'reports'));
    expect(files).toEqual([expect.stringMatching(/^report-\d{8}T\d{6}Z-1\.json$/)]);
    expect(served.stderr).toContain(`cairn: report written to ${join(home, 'reports', files[0]!)}`);
    expect(JobReport.parse(JSON.parse(readFileSync(join(home, 'reports', files[0]!), 'utf8'))).totals).toMatchObject({ jobs: 1, succeeded: 1 });
  });
});
