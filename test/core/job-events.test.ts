import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { decideRetry, finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { ConflictError } from '#core/errors.ts';
import { PublishingJobStore } from '#core/jobs/publishing-job-store.ts';
import type { JobStateChange } from '#core/ports/job-events.ts';
import { queuedPastWindow } from '#core/jobs/queued-past-window.ts';
import { MemoryJobEvents } from '../memory/memory-job-events.ts';
import { describeJobEventsContract } from '../contracts/job-events-contract.ts';
import { sampleJob, sampleRestoreJob, samplePolicy } from '../contracts/fixtures.ts';

describeJobEventsContract('memory', async () => {
  const publisher = new MemoryJobEvents();
  return { publisher, delivered: async () => publisher.delivered };
});

/** The job services on memory stores whose job store publishes through a memory publisher. */
describe('job state changes, published by the job store', () => {
  let rt: MemoryStores;
  let events: MemoryJobEvents;
  let unpublished: { change: JobStateChange; error: unknown }[];
  let deps: Omit<MemoryStores, 'jobs'> & { jobs: PublishingJobStore };

  beforeEach(async () => {
    rt = await withLocalDisk(memoryStores('2026-11-23T02:00:00Z'));
    await rt.config.putPolicy(samplePolicy('nightly', { storageUnit: 'local-disk' }));
    events = new MemoryJobEvents();
    unpublished = [];
    deps = { ...rt, jobs: new PublishingJobStore(rt.jobs, events, (change, error) => unpublished.push({ change, error })) };
  });

  const transitions = () => events.changes.map((c) => `${c.previousState ?? 'new'} → ${c.state}`);

  it('publishes the queue, the grant and the end of a backup, each once, with what the job then is', async () => {
    const { jobId } = await queueBackupJob(deps, { client: 'client1', policy: 'nightly' }, rt.clock.now());
    rt.clock.advance(1000);
    const granted = await reserveResources(deps, jobId, rt.clock.now());
    rt.clock.advance(60_000);
    await finishJob(deps.jobs, jobId, { statusCode: 0 }, rt.clock.now());

    expect(granted.granted).toBe(true);
    expect(transitions()).toEqual(['new → QUEUED', 'QUEUED → ACTIVE', 'ACTIVE → DONE']);
    const [queued, active, done] = events.changes;
    expect(queued).toEqual({
      jobId,
      kind: 'backup',
      state: 'QUEUED',
      attempt: 1,
      client: 'client1',
      policy: 'nightly',
      schedule: expect.any(String),
      waitingReason: 'waiting for resources',
      queuedAt: '2026-11-23T02:00:00.000Z',
      at: '2026-11-23T02:00:00.000Z',
    });
    const job = await rt.jobs.get(jobId);
    expect(active).toMatchObject({ previousState: 'QUEUED', state: 'ACTIVE', backupId: job?.type === 'backup' ? job.backupId : 'none', startedAt: '2026-11-23T02:00:01.000Z', at: '2026-11-23T02:00:01.000Z' });
    expect(done).toMatchObject({ previousState: 'ACTIVE', state: 'DONE', statusCode: 0, statusText: job?.statusText, endedAt: '2026-11-23T02:01:01.000Z' });
    expect(Object.keys(done!)).not.toContain('waitingReason');
    expect(unpublished).toEqual([]);
  });

  it('publishes nothing for a write that keeps the state: a refused reservation, progress, an end already recorded', async () => {
    await rt.config.putStorageUnit({ ...(await rt.config.getStorageUnit('local-disk'))!, maxConcurrentJobs: 1 });
    const first = await queueBackupJob(deps, { client: 'client1', policy: 'nightly' }, rt.clock.now());
    const second = await queueBackupJob(deps, { client: 'client2', policy: 'nightly' }, rt.clock.now());
    await reserveResources(deps, first.jobId, rt.clock.now());
    const before = events.changes.length;

    const refused = await reserveResources(deps, second.jobId, rt.clock.now());
    await deps.jobs.recordProgress(first.jobId, { files: 3 }, rt.clock.now());
    await finishJob(deps.jobs, first.jobId, { statusCode: 0 }, rt.clock.now());
    await finishJob(deps.jobs, first.jobId, { statusCode: 0 }, rt.clock.now());

    expect(refused.granted).toBe(false);
    expect((await rt.jobs.get(second.jobId))?.waitingReason).toMatch(/^waiting for storage unit slot/);
    expect(events.changes.slice(before).map((c) => `${c.jobId}: ${c.previousState} → ${c.state}`)).toEqual([`${first.jobId}: ACTIVE → DONE`]);
  });

  it('publishes a retry as the job turning QUEUED again, as its next attempt', async () => {
    const { jobId } = await queueBackupJob(deps, { client: 'client1', policy: 'nightly' }, rt.clock.now());
    await reserveResources(deps, jobId, rt.clock.now());

    const decision = await decideRetry(deps, jobId, { failure: { Error: 'Status84', Cause: 'media write error' } }, rt.clock.now());

    expect(decision.retry).toBe(true);
    expect(events.changes.at(-1)).toMatchObject({ previousState: 'ACTIVE', state: 'QUEUED', attempt: 2, waitingReason: expect.stringMatching(/^retry: attempt 1 ended with status 84/) });
  });

  it('never fails or undoes a write whose change cannot be published: the failure is reported and the caller gets its job', async () => {
    events.failing = true;

    const { jobId } = await queueBackupJob(deps, { client: 'client1', policy: 'nightly' }, rt.clock.now());
    const ended = await finishJob(deps.jobs, jobId, { statusCode: 1 }, rt.clock.now());

    expect(ended).toEqual({ jobId, statusCode: 1 });
    expect((await rt.jobs.get(jobId))?.state).toBe('DONE');
    expect(events.delivered).toEqual([]);
    expect(unpublished.map(({ change }) => `${change.previousState ?? 'new'} → ${change.state}`)).toEqual(['new → QUEUED', 'QUEUED → DONE']);
    expect(String(unpublished[0]!.error)).toMatch(/refused/);
  });

  it('survives a failure reporter that throws', async () => {
    events.failing = true;
    const jobs = new PublishingJobStore(rt.jobs, events, () => {
      throw new Error('the reporter broke');
    });

    await jobs.create(sampleJob(41, { state: 'QUEUED' }));

    expect((await rt.jobs.get(41))?.state).toBe('QUEUED');
  });

  it('publishes nothing for a write the store refuses (expected state not met), and the refusal reaches the caller', async () => {
    await deps.jobs.create(sampleJob(42, { state: 'DONE', statusCode: 0 }));
    const before = events.changes.length;

    await expect(deps.jobs.update(42, (job) => ({ ...job, state: 'ACTIVE' }), { expectedStates: ['QUEUED'] })).rejects.toBeInstanceOf(ConflictError);

    expect(events.changes.length).toBe(before);
  });
});

describe('jobs QUEUED past their window', () => {
  const now = new Date('2026-11-25T04:10:00.000Z');
  const job = (jobId: number, windowEnd: string | undefined, state: 'QUEUED' | 'ACTIVE' | 'DONE' = 'QUEUED') => sampleJob(jobId, { state, windowEnd });

  it('are the QUEUED backups whose window closed more than five minutes ago', () => {
    const jobs = [
      job(1, '2026-11-25T04:00:00.000Z'),
      job(2, '2026-11-25T04:05:00.000Z'),
      job(3, '2026-11-25T04:05:00.001Z'),
      job(4, '2026-11-25T04:00:00.000Z', 'ACTIVE'),
      job(5, '2026-11-25T04:00:00.000Z', 'DONE'),
      job(6, undefined),
      sampleRestoreJob(7),
    ];

    expect(queuedPastWindow(jobs, now).map((j) => j.jobId)).toEqual([1, 2]);
  });

  it('take the grace as a value: none counts a job the moment its window closes', () => {
    expect(queuedPastWindow([job(1, '2026-11-25T04:10:00.000Z'), job(2, '2026-11-25T04:10:00.001Z')], now, 0).map((j) => j.jobId)).toEqual([1]);
  });
});
