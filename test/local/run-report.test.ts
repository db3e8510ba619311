import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { RunReporter, writeReportFile, type RunReportOutcome } from '#local/run-report.ts';
import { WebhookReportPublisher } from '#local/report-webhook.ts';
import { JobReport } from '#core/report/job-report.ts';
import { buildReport } from '#core/report/build-report.ts';
import { saveSetting } from '#core/settings.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const ROOT = '/tmp/i12-report';

/** A webhook receiver on 127.0.0.1 that answers each POST with the next status of `answers` (the last one repeated). */
async function receiver(answers: number[]): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      response.statusCode = answers[Math.min(bodies.length - 1, answers.length - 1)]!;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/cairn`, bodies, server };
}

describe('the standalone completion report after a scheduler run', () => {
  let work: string;
  let rt: LocalRuntime;
  let server: Server | undefined;
  // Near real time: the agent stamps images with the clock.
  const clock = new FakeClock(new Date());

  beforeEach(async () => {
    mkdirSync(ROOT, { recursive: true });
    work = mkdtempSync(join(ROOT, 'run-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'f.txt'), 'hello');
    const schedules = [{ name: 'full', type: 'full' as const, frequency: 3600, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 1 } }];
    await rt.config.putPolicy(samplePolicy('good', { selections: [join(work, 'data')], storageUnit: 'local-disk', clients: [{ name: 'ok1', priority: 1 }], schedules }));
    await rt.config.putPolicy(samplePolicy('bad', { selections: [join(work, 'missing')], storageUnit: 'local-disk', clients: [{ name: 'gone1', priority: 1 }], schedules }));
  });
  afterEach(() => {
    server?.close();
    server = undefined;
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function runOnce(options: { attempts?: number } = {}): Promise<RunReportOutcome[]> {
    const outcomes: RunReportOutcome[] = [];
    const reports = new RunReporter(rt, { onReport: (o) => outcomes.push(o), webhookOptions: { attempts: options.attempts ?? 3, delaysMs: [10], timeoutMs: 2000 } });
    const scheduler = localScheduler(rt, { onStarted: (due) => reports.started(due.executionName), onEnded: (name) => reports.ended(name) });
    await scheduler.tick();
    await scheduler.settled();
    await reports.settled();
    return outcomes;
  }

  it('writes the run report under $CAIRN_HOME/reports (owner-only), failure first, and POSTs it to the webhook, retrying a 503', async () => {
    const hook = await receiver([503, 204]);
    server = hook.server;
    await saveSetting(rt.config, 'reportWebhookUrl', hook.url);

    const outcomes = await runOnce();

    // One report for the run, made when its last job ended.
    expect(outcomes).toHaveLength(1);
    const [outcome] = outcomes;
    expect(outcome!.problems).toEqual([]);
    expect(outcome!.report!.jobs.map((l) => [l.client, l.outcome])).toEqual([
      ['gone1', 'failed'],
      ['ok1', 'success'],
    ]);
    expect(outcome!.report!.jobs[0]).toMatchObject({ policy: 'bad', schedule: 'full', level: 'full', statusCode: 71, reason: expect.stringContaining('missing') });
    expect(outcome!.report!.totals).toMatchObject({ jobs: 2, failed: 1, succeeded: 1, running: 0 });
    // Written: the same document, owner-only, named after the run's end.
    expect(outcome!.file).toMatch(/\/reports\/report-\d{8}T\d{6}Z-1\.json$/);
    expect(JobReport.parse(JSON.parse(readFileSync(outcome!.file!, 'utf8')))).toEqual(outcome!.report);
    expect(statSync(outcome!.file!).mode & 0o777).toBe(0o600);
    expect(statSync(join(rt.home, 'reports')).mode & 0o777).toBe(0o700);
    // Sent: the first POST got 503 and was tried again; the receiver got the JSON report twice, the same both times.
    expect(outcome!.webhook).toEqual({ url: hook.url, sent: true });
    expect(hook.bodies).toHaveLength(2);
    expect(JobReport.parse(JSON.parse(hook.bodies[1]!))).toEqual(outcome!.report);
  });

  it('tells a webhook that keeps failing after 3 attempts, and the backups keep their statuses', async () => {
    const hook = await receiver([500]);
    server = hook.server;
    await saveSetting(rt.config, 'reportWebhookUrl', hook.url);

    const [outcome] = await runOnce();

    expect(hook.bodies).toHaveLength(3);
    expect(outcome!.webhook).toEqual({ url: hook.url, sent: false });
    expect(outcome!.problems).toEqual([`report webhook ${hook.url} did not take the report: HTTP 500`]);
    expect(outcome!.file).toBeDefined();
    const jobs = await rt.jobs.list();
    expect(jobs.map((j) => [j.client, j.statusCode]).sort()).toEqual([
      ['gone1', 71],
      ['ok1', 0],
    ]);
  });

  it('does not retry a refusal (4xx), nor follow a redirect elsewhere', async () => {
    const hook = await receiver([404]);
    server = hook.server;
    const report = buildReport([], { from: new Date(0), to: clock.now() }, clock.now());
    await expect(new WebhookReportPublisher(hook.url, { delaysMs: [1] }).publish(report)).rejects.toThrow(/HTTP 404/);
    expect(hook.bodies).toHaveLength(1);
    const moved = await receiver([302]);
    try {
      await expect(new WebhookReportPublisher(moved.url, { delaysMs: [1] }).publish(report)).rejects.toThrow(/HTTP 302/);
      expect(moved.bodies).toHaveLength(1);
    } finally {
      moved.server.close();
    }
  });

  it('sends nothing to a receiver that is not listening, and says so', async () => {
    const hook = await receiver([204]);
    hook.server.close();
    await saveSetting(rt.config, 'reportWebhookUrl', hook.url);
    const [outcome] = await runOnce({ attempts: 2 });
    expect(outcome!.problems[0]).toMatch(/did not take the report: fetch failed/);
    expect(outcome!.file).toBeDefined();
  });

  it('refuses a webhook in clear text to another host, or with credentials, as a setting and as a publisher', async () => {
    await expect(saveSetting(rt.config, 'reportWebhookUrl', 'http://reports.example.com/hook')).rejects.toThrow(/invalid setting reportWebhookUrl/);
    await expect(saveSetting(rt.config, 'reportWebhookUrl', 'https://user:pw@reports.example.com/hook')).rejects.toThrow(/invalid setting/);
    await expect(saveSetting(rt.config, 'reportWebhookUrl', 'ftp://127.0.0.1/x')).rejects.toThrow(/invalid setting/);
    await saveSetting(rt.config, 'reportWebhookUrl', 'https://reports.example.com/hook');
    await saveSetting(rt.config, 'reportWebhookUrl', 'http://[::1]:8080/hook');
    expect(() => new WebhookReportPublisher('http://10.0.0.1/hook')).toThrow(/http: only to this machine/);
  });

  it('reports a run once, when its last execution ended, even when an end is told before its start', async () => {
    const outcomes: RunReportOutcome[] = [];
    const reports = new RunReporter(rt, { onReport: (o) => outcomes.push(o) });
    reports.started('a');
    reports.ended('b');
    reports.started('b');
    await reports.settled();
    expect(outcomes).toEqual([]);
    reports.ended('a');
    await reports.settled();
    expect(outcomes).toHaveLength(1);
    // The next start begins a new run.
    reports.started('c');
    reports.ended('c');
    await reports.settled();
    expect(outcomes).toHaveLength(2);
  });

  it('keeps report files 30 days by the time in their name', () => {
    const now = new Date('2026-12-03T06:00:00Z');
    const dir = join(rt.home, 'reports');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report-20261101T060000Z-1.json'), '{}');
    writeFileSync(join(dir, 'report-20261110T060000Z-1.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'kept: not a report');
    const report = buildReport([], { from: new Date('2026-12-02T06:00:00Z'), to: now }, now);
    const first = writeReportFile(rt.home, report, now);
    const second = writeReportFile(rt.home, report, now);
    expect([first, second].map((f) => f.slice(dir.length + 1))).toEqual(['report-20261203T060000Z-1.json', 'report-20261203T060000Z-2.json']);
    expect(readdirSync(dir).sort()).toEqual(['notes.txt', 'report-20261110T060000Z-1.json', 'report-20261203T060000Z-1.json', 'report-20261203T060000Z-2.json']);
  });
});
