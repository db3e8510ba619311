import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import type { Job } from '#core/model/job.ts';

/**
 * The job page's throughput chart for the kinds that read rather than back
 * up, over a real standalone runtime: a verify job (verify-job.asl.json in
 * process, the agent's verify task) and a restore job started from the
 * page's API (cli/recorded-restore.ts) record a throughput series as a
 * backup does, and `GET /api/jobs/:id` answers its rates for the chart.
 */
const SIZE = 24 * 1024 * 1024;
let work: string;
let runtime: LocalRuntime;
let monitor: Monitor;
let backupId: string;
const token = 'b'.repeat(64);
const get = (path: string): Promise<Response> => fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });
const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: monitor.origin, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

type Detail = Job & { throughput?: { at: number; bytesPerSecond: number }[] };

async function doneJob(jobId: number): Promise<Detail> {
  const end = Date.now() + 30_000;
  for (;;) {
    const job = (await (await get(`/api/jobs/${jobId}`)).json()) as Detail;
    if (job.state === 'DONE') return job;
    if (Date.now() > end) throw new Error(`job ${jobId} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A series that starts at 0 bytes, never goes back in time or bytes, ends at the job's bytes, and whose rates are ones a disk could give. */
function expectSensibleSeries(job: Detail): void {
  const samples = job.progress.samples!;
  expect(samples.length, `job ${job.jobId}'s samples`).toBeGreaterThanOrEqual(2);
  expect(samples[0]![1]).toBe(0);
  expect(samples.at(-1)![1]).toBe(job.progress.bytes);
  for (let i = 1; i < samples.length; i++) {
    expect(samples[i]![0]).toBeGreaterThanOrEqual(samples[i - 1]![0]);
    expect(samples[i]![1]).toBeGreaterThanOrEqual(samples[i - 1]![1]);
  }
  // Within the job's own times, to the millisecond.
  expect(samples[0]![0] * 1000).toBeGreaterThanOrEqual(Date.parse(job.startedAt!) - 1);
  expect(samples.at(-1)![0] * 1000).toBeLessThanOrEqual(Date.parse(job.endedAt!) + 1);
  const seconds = samples.at(-1)![0] - samples[0]![0];
  expect(seconds).toBeGreaterThan(0);
  const average = job.progress.bytes / seconds;
  expect(average).toBeGreaterThan(0);
  expect(average).toBeLessThan(100 * 1024 ** 3);
  expect(job.throughput!.length).toBe(samples.length);
  expect(job.throughput!.every((p) => Number.isFinite(p.bytesPerSecond) && p.bytesPerSecond >= 0 && p.at > 1.7e9)).toBe(true);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-samples-'));
  runtime = await openLocalRuntime({ home: join(work, 'home') });
  mkdirSync(join(work, 'data'));
  writeFileSync(join(work, 'data', 'big.bin'), randomBytes(SIZE));
  const backend = localBackend(runtime);
  const run = await backend.runBackup({ client: 'web-host', selections: [join(work, 'data')] }, {});
  expect(run.statusCode).toBe(0);
  backupId = run.backupId!;
  monitor = await startMonitor({ backend, token, port: 0, actor: 'tester@host1, cairn monitor', pollMs: 50, assets: async () => new Map() });
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('throughput over time of the jobs that read an image', () => {
  it('a verify job records its series: from 0 to every byte it read', async () => {
    const run = await runVerifyJob(runtime, { backupId });
    expect(run.statusCode, run.error).toBe(0);
    const job = await doneJob(run.jobId!);
    expect(job.type).toBe('verify');
    expect(job.progress.bytes).toBeGreaterThanOrEqual(SIZE);
    expectSensibleSeries(job);
  }, 30_000);

  it('a restore job started from the page records its series: from 0 to every byte it wrote', async () => {
    const answer = await post(`/api/images/${backupId}/restore`, { paths: [join(work, 'data')], targetDir: join(work, 'restored') });
    expect(answer.status).toBe(200);
    const { jobId } = (await answer.json()) as { jobId: number };
    const job = await doneJob(jobId);
    expect(job).toMatchObject({ type: 'restore', statusCode: 0 });
    expect(job.progress.bytes).toBe(SIZE);
    expectSensibleSeries(job);
  }, 30_000);
});
