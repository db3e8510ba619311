import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { finishJob } from '#core/jobs/job-service.ts';
import { FakeClock } from '#core/ports/clock.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openSqliteDatabase, type SqliteDatabase } from '#local/sqlite-database.ts';
import { SqliteJobStore } from '#local/sqlite-job-store.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { describeTaskReporterContract } from '../contracts/task-reporter-contract.ts';

const JOB_ID = 1;
const CANCELLED = { failure: { Error: `Status${StatusCode.TERMINATED_BY_ADMINISTRATOR}`, Cause: 'cancelled by an administrator' } };

/** A SQLite job store in a fresh file holding one ACTIVE job. */
async function openJobs(): Promise<{ db: SqliteDatabase; jobs: SqliteJobStore; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-reporter-'));
  const db = openSqliteDatabase(join(dir, 'cairn.db'));
  const jobs = new SqliteJobStore(db);
  await jobs.create(sampleJob(JOB_ID, { state: 'ACTIVE', startedAt: '2026-11-01T02:00:00.000Z' }));
  return { db, jobs, cleanup: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
}

describeTaskReporterContract('job-record reporter (SQLite job store)', async () => {
  const { jobs, cleanup } = await openJobs();
  const abort = new AbortController();
  let delivered = 0;
  let failNext = false;
  const clock = new FakeClock('2026-11-01T02:05:00Z');
  const heartbeat = async (): Promise<void> => {
    if (failNext) {
      failNext = false;
      throw new Error('the workflow could not be reached');
    }
    delivered += 1;
  };
  return {
    reporter: jobRecordReporter({ jobs, jobId: JOB_ID, clock, abort, heartbeat }),
    signal: abort.signal,
    endTask: async () => void (await finishJob(jobs, JOB_ID, CANCELLED, clock.now())),
    endedStatus: StatusCode.TERMINATED_BY_ADMINISTRATOR,
    failNextHeartbeat: () => void (failNext = true),
    heartbeatsDelivered: () => delivered,
    cleanup: async () => cleanup(),
  };
});

describe('the job-record reporter', () => {
  let fixture: Awaited<ReturnType<typeof openJobs>>;
  const clock = new FakeClock('2026-11-01T02:05:00Z');
  beforeEach(async () => {
    fixture = await openJobs();
  });
  afterEach(() => fixture.cleanup());

  it('writes progress to the job record, stamped by the injected clock', async () => {
    const reporter = jobRecordReporter({ jobs: fixture.jobs, jobId: JOB_ID, clock, abort: new AbortController(), heartbeat: async () => undefined });

    await reporter.progress({ files: 7, bytes: 70, throughputBps: 10, writerWaits: 2, readerWaits: 1, currentPath: '/home/a' });

    expect(await fixture.jobs.get(JOB_ID)).toMatchObject({ progress: { files: 7, bytes: 70, throughputBps: 10, writerWaits: 2, readerWaits: 1, currentPath: '/home/a' }, updatedAt: '2026-11-01T02:05:00.000Z' });
  });

  it('aborts instead of writing when the job was cancelled from another process', async () => {
    const abort = new AbortController();
    const reporter = jobRecordReporter({ jobs: fixture.jobs, jobId: JOB_ID, clock, abort, heartbeat: async () => undefined });
    await finishJob(fixture.jobs, JOB_ID, CANCELLED, clock.now());

    await reporter.progress({ files: 7, bytes: 70, throughputBps: 10, writerWaits: 0, readerWaits: 0 });

    expect(abort.signal.reason).toMatchObject({ statusCode: 150, message: 'job 1 was ended (status 150)' });
    expect((await fixture.jobs.get(JOB_ID))?.progress.files).toBe(0);
  });

  it('still heartbeats when the job record cannot be written: the workflow must not lose the agent over it', async () => {
    let heartbeats = 0;
    const jobs = fixture.jobs;
    const broken: JobStore = {
      nextJobId: () => jobs.nextJobId(),
      create: (job) => jobs.create(job),
      get: (jobId) => jobs.get(jobId),
      findByExecution: (name) => jobs.findByExecution(name),
      recordProgress: async () => Promise.reject(new Error("database is locked")),
      update: (jobId, change, options) => jobs.update(jobId, change, options),
      list: (query) => jobs.list(query),
      recordUsage: (jobId, usage) => jobs.recordUsage(jobId, usage),
      usage: (jobId) => jobs.usage(jobId),
    };
    const abort = new AbortController();
    const reporter = jobRecordReporter({ jobs: broken, jobId: JOB_ID, clock, abort, heartbeat: async () => void (heartbeats += 1) });

    await reporter.heartbeat();
    await expect(reporter.progress({ files: 1, bytes: 1, throughputBps: 1, writerWaits: 0, readerWaits: 0 })).rejects.toThrow('database is locked');

    expect(heartbeats).toBe(1);
    expect(abort.signal.aborted).toBe(false);
  });
});
