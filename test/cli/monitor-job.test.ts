import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import { statusText } from '#core/status-codes.ts';
import type { Job } from '#core/model/job.ts';
import { emptyUsage, type UsageCounters } from '#core/model/job-usage.ts';
import { showJob } from '#cli/monitor/jobs-view.ts';
import { sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';

/**
 * The One-job page's API over a real standalone runtime: a real backup's
 * throughput series, bottleneck verdict and (absent) cost; Restart doing
 * what `cairn jobs restart` does, recorded as the monitor's actor, and
 * refused with the command's reason; the status codes' document.
 */
let work: string;
let runtime: LocalRuntime;
let monitor: Monitor;
let backupJobId: number;
const token = 'a'.repeat(64);
const ACTOR = 'tester@host1, cairn monitor';
const post = (path: string): Promise<Response> => fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: monitor.origin } });
const get = (path: string): Promise<Response> => fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });

async function until<T>(what: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-job-'));
  runtime = await openLocalRuntime({ home: join(work, 'home') });
  mkdirSync(join(work, 'data'));
  // Big enough that the data path takes measurable time: its first and last samples are apart.
  writeFileSync(join(work, 'data', 'big.bin'), randomBytes(24 * 1024 * 1024));
  const backend = localBackend(runtime);
  const run = await backend.runBackup({ client: 'web-host', selections: [join(work, 'data')] }, {});
  expect(run.statusCode).toBe(0);
  backupJobId = run.jobId!;
  monitor = await startMonitor({ backend, token, port: 0, actor: ACTOR, pollMs: 50, assets: async () => new Map() });
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('GET /api/jobs/:id for a finished backup', () => {
  it('carries its throughput over time, its bottleneck verdict, no cost on the standalone runtime, and Restart allowed', async () => {
    const job = (await (await get(`/api/jobs/${backupJobId}`)).json()) as Job & { throughput: { at: number; bytesPerSecond: number }[]; bottleneck: { verdict: string; figures: string }; cost?: unknown; restartRefusal?: string };
    // The agent's series, stored with its progress: it starts at 0 bytes and ends at the job's bytes.
    const samples = job.progress.samples!;
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples[0]![1]).toBe(0);
    expect(samples.at(-1)![1]).toBe(job.progress.bytes);
    expect(job.throughput.length).toBeGreaterThanOrEqual(1);
    expect(job.throughput.every((p) => p.bytesPerSecond >= 0 && p.at > 1.7e9)).toBe(true);
    expect(job.bottleneck.verdict).toMatch(/^(reader-bound|writer-bound|cpu-bound|balanced|too-short)$/);
    expect(job.bottleneck.figures).toMatch(/reader busy/);
    expect(job).not.toHaveProperty('cost');
    expect(job).not.toHaveProperty('restartRefusal');
  });

  it('leaves the series out of the jobs table (only the job page charts it)', async () => {
    const { jobs } = (await (await get('/api/jobs')).json()) as { jobs: Job[] };
    const row = jobs.find((j) => j.jobId === backupJobId)!;
    expect(row.progress.bytes).toBeGreaterThan(24 * 1024 * 1024 - 1);
    expect(row.progress).not.toHaveProperty('samples');
  });
});

describe('POST /api/jobs/:id/restart', () => {
  it('runs the ended backup again as a new job, recorded as the monitor actor, answered once queued', async () => {
    const answer = await post(`/api/jobs/${backupJobId}/restart`);
    expect(answer.status).toBe(200);
    const { restartedFrom, jobId } = (await answer.json()) as { restartedFrom: number; jobId: number };
    expect(restartedFrom).toBe(backupJobId);
    expect(jobId).toBeGreaterThan(backupJobId);
    const ended = await until(async () => {
      const job = await runtime.jobs.get(jobId);
      return job?.state === 'DONE' ? job : undefined;
    });
    expect(ended).toMatchObject({ type: 'backup', statusCode: 0, client: 'web-host', selections: [join(work, 'data')] });
    expect(ended.details?.map((d) => d.message)).toContain(`restart of job ${backupJobId}, requested by ${ACTOR}`);
  }, 30_000);

  it('refuses what `cairn jobs restart` refuses, with its reason: 409 for a job not ended or not a backup, 404 for none', async () => {
    const queued = (await runtime.jobs.nextJobId());
    await runtime.jobs.create(sampleJob(queued, { state: 'QUEUED' }));
    const restore = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleRestoreJob(restore, { state: 'DONE', statusCode: 0 }));
    const before = (await runtime.jobs.list({ limit: 1000 })).length;
    const notEnded = await post(`/api/jobs/${queued}/restart`);
    expect(notEnded.status).toBe(409);
    expect(await notEnded.json()).toMatchObject({ statusCode: 20, message: `job ${queued} is QUEUED; only an ended job can be restarted` });
    const notBackup = await post(`/api/jobs/${restore}/restart`);
    expect(notBackup.status).toBe(409);
    expect(await notBackup.json()).toMatchObject({ message: `job ${restore} is a restore job; only a backup job can be restarted` });
    expect((await post('/api/jobs/999999/restart')).status).toBe(404);
    expect((await runtime.jobs.list({ limit: 1000 })).length).toBe(before);
    // The page hides Restart for exactly these: the job's answer says why.
    expect(await (await get(`/api/jobs/${queued}`)).json()).toMatchObject({ restartRefusal: `job ${queued} is QUEUED; only an ended job can be restarted` });
  });

  it('refuses a cross-site request', async () => {
    const foreign = await fetch(`${monitor.origin}/api/jobs/${backupJobId}/restart`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
  });
});

describe('GET /api/status-codes', () => {
  it('is the table docs/status-codes.md is generated from: every code, its text, and whether it is retried', async () => {
    const { codes } = (await (await get('/api/status-codes')).json()) as { codes: { code: number; text: string; retried: boolean }[] };
    expect(codes.length).toBe(Object.keys(statusText).length);
    expect(codes).toContainEqual({ code: 150, text: 'termination requested by administrator', retried: false });
    expect(codes).toContainEqual({ code: 13, text: 'file read failed', retried: true });
  });
});

describe('the job pages\' sources', () => {
  it('never write HTML: every server string (a file name, an error, a detail line) is a text node', () => {
    for (const file of ['job-page.ts', 'job-parts.ts', 'job-chart.ts', 'job-api.ts', 'status-page.ts', 'jobs-page.ts']) {
      expect(readFileSync(new URL(`../../cli/monitor/page/${file}`, import.meta.url), 'utf8'), file).not.toMatch(/innerHTML|dangerouslySetInnerHTML|insertAdjacentHTML|eval\(/);
    }
  });
});

describe('a job\'s cost', () => {
  it('is the measured usage priced for the stack\'s region where the backend measures one (cairn --aws), as `cairn jobs show` prints it', async () => {
    // A deployed stack's backend: its region and the job's usage (aws/job-usage-reader.ts reads these from the tables and the execution's history).
    const agent: UsageCounters = { ...emptyUsage(), s3Tier1Requests: 40, s3BytesUp: 2 * 1024 ** 3 };
    const backend = { ...localBackend(runtime), cloudCost: { region: 'eu-west-1', usage: async () => ({ lambdas: { ...emptyUsage(), lambdaInvocations: 12 }, agent, stateTransitions: { count: 30, events: 61 } }) } };
    const shown = await showJob(backend, backupJobId);
    expect(shown?.cost).toMatchObject({ region: 'eu-west-1', totalAtLeast: expect.any(Boolean) });
    expect(shown?.cost?.lines.map((line) => line.service)).toEqual(expect.arrayContaining(['Step Functions', 'Lambda', 'S3']));
    expect(shown?.cost?.totalUsd).toBeGreaterThan(0);
  });
});
