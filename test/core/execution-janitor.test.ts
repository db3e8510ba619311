import { describe, expect, it } from 'vitest';
import { endJobOfExecution, outcomeOfExecution, sweepJobs, SWEEP_QUIET_SECONDS, JOB_NOT_ENDED } from '#core/jobs/execution-janitor.ts';
import { statusFromFailure } from '#core/jobs/job-service.ts';
import type { ExecutionState } from '#core/ports/execution-status.ts';
import { makeBackupId } from '#core/ids.ts';
import { memoryStores, type MemoryStores } from '../memory/memory-stores.ts';
import { claimOf, sampleImage, sampleJob } from '../contracts/fixtures.ts';
import { CatalogCheckJob } from '#core/model/job.ts';

const NOW = new Date('2026-11-23T02:00:00Z');
const LONG_AGO = new Date(NOW.getTime() - 3600_000).toISOString();
const slot = { kind: 'storage-unit-slot' as const, storageUnit: 'disk1', maxConcurrentJobs: 1 };

/** An ACTIVE job of `executionName` holding disk1's only slot, its image catalogued when asked. */
async function runningJob(stores: MemoryStores, jobId: number, executionName: string, options: { catalogued?: boolean; updatedAt?: string } = {}) {
  const at = new Date(Date.parse('2026-11-23T01:00:00Z') + jobId * 1000);
  const backupId = makeBackupId('client1', at);
  await stores.jobs.create(sampleJob(jobId, { state: 'ACTIVE', executionName, backupId, updatedAt: options.updatedAt ?? LONG_AGO }));
  expect((await stores.media.reserve({ jobId, resources: [slot], at })).granted).toBe(true);
  if (options.catalogued) {
    const image = sampleImage('client1', at, { jobId });
    await stores.catalog.claimBackupId(claimOf(image));
    await stores.catalog.putImage(image);
  }
  return backupId;
}

/** Whether another job can take disk1's only slot now. */
async function slotFree(stores: MemoryStores, jobId = 99): Promise<boolean> {
  const granted = (await stores.media.reserve({ jobId, resources: [slot], at: NOW })).granted;
  if (granted) await stores.media.release(jobId);
  return granted;
}

describe('the status a job ends with when its execution ended', () => {
  const statusOf = (end: ExecutionState | undefined) => {
    const outcome = outcomeOfExecution('nightly.c1.full.1', end);
    return outcome.failure ? statusFromFailure(outcome.failure) : outcome.statusCode;
  };

  it('is 150 for a stopped execution, 41 for a timed-out one, 2002 for one that is gone or succeeded without ending it', () => {
    expect(statusOf({ status: 'ABORTED' })).toBe(150);
    expect(statusOf({ status: 'TIMED_OUT' })).toBe(41);
    expect(statusOf(undefined)).toBe(2002);
    expect(statusOf({ status: 'SUCCEEDED' })).toBe(2002);
  });

  it('is the status code a failed execution carries, the service errors mapped, else 2000', () => {
    expect(statusOf({ status: 'FAILED', error: 'Status84', cause: 'media write error' })).toBe(84);
    expect(statusOf({ status: 'FAILED', error: 'States.Timeout' })).toBe(41);
    expect(statusOf({ status: 'FAILED', error: 'States.Runtime', cause: 'history limit' })).toBe(2000);
    expect(statusOf({ status: 'FAILED' })).toBe(2000);
  });

  it('is exactly the outcome EndJob was given when the execution failed as JobNotEnded', () => {
    const cause = (outcome: unknown) => JSON.stringify({ jobId: 7, outcome, endFailure: { Error: 'Lambda.ServiceException', Cause: 'down' } });
    expect(outcomeOfExecution('n', { status: 'FAILED', error: JOB_NOT_ENDED, cause: cause({ statusCode: 1 }) })).toEqual({ statusCode: 1 });
    expect(outcomeOfExecution('n', { status: 'FAILED', error: JOB_NOT_ENDED, cause: cause({ failure: { Error: 'Status84', Cause: 'tape full' } }) })).toEqual({ failure: { Error: 'Status84', Cause: 'tape full' } });
    // A cause that is not the workflow's: the error decides, like any failure.
    expect(statusOf({ status: 'FAILED', error: JOB_NOT_ENDED, cause: 'not json' })).toBe(2000);
  });

  it('says in the job record why', () => {
    expect(outcomeOfExecution('n', { status: 'ABORTED', cause: 'stopped by ops' }).failure?.Cause).toBe('the execution n was stopped (stopped by ops)');
    expect(outcomeOfExecution('n', { status: 'FAILED', error: 'States.Runtime', cause: 'boom' }).failure?.Cause).toBe('the execution n failed (States.Runtime: boom)');
  });
});

describe('the execution janitor', () => {
  it('ends the job of a stopped execution with 150 and frees its slot for the next job', async () => {
    const stores = memoryStores();
    await runningJob(stores, 1, 'exec-1');
    expect(await slotFree(stores)).toBe(false);

    const action = await endJobOfExecution(stores, { executionName: 'exec-1', status: 'ABORTED' }, NOW);

    expect(action).toMatchObject({ executionName: 'exec-1', jobId: 1, action: 'ended', statusCode: 150, released: true });
    expect(await stores.jobs.get(1)).toMatchObject({ state: 'DONE', statusCode: 150, statusText: 'termination requested by administrator', error: 'the execution exec-1 was stopped', endedAt: NOW.toISOString() });
    expect(await slotFree(stores)).toBe(true);
  });

  it('ends a timed-out execution’s job with 41 and a failed one’s with the status the failure carries', async () => {
    const stores = memoryStores();
    await stores.jobs.create(sampleJob(1, { executionName: 'exec-1' }));
    await stores.jobs.create(sampleJob(2, { executionName: 'exec-2', state: 'ACTIVE' }));

    await endJobOfExecution(stores, { executionName: 'exec-1', status: 'TIMED_OUT' }, NOW);
    await endJobOfExecution(stores, { executionName: 'exec-2', status: 'FAILED', error: 'Status219', cause: 'unit gone' }, NOW);

    expect(await stores.jobs.get(1)).toMatchObject({ state: 'DONE', statusCode: 41 });
    expect(await stores.jobs.get(2)).toMatchObject({ state: 'DONE', statusCode: 219 });
  });

  it('leaves a job that already ended with its status, and still releases a slot it holds (a Release that failed)', async () => {
    const stores = memoryStores();
    await runningJob(stores, 1, 'exec-1');
    await stores.jobs.update(1, (job) => ({ ...job, state: 'DONE', statusCode: 0 }));

    const action = await endJobOfExecution(stores, { executionName: 'exec-1', status: 'FAILED', error: 'ReservationNotReleased' }, NOW);
    const again = await endJobOfExecution(stores, { executionName: 'exec-1', status: 'FAILED', error: 'ReservationNotReleased' }, NOW);

    expect(action).toEqual({ executionName: 'exec-1', jobId: 1, action: 'already-ended', statusCode: 0, released: true });
    expect(again).toEqual({ ...action, released: false });
    expect(await stores.jobs.get(1)).toMatchObject({ state: 'DONE', statusCode: 0 });
    expect(await slotFree(stores)).toBe(true);
  });

  it('ends the job with the outcome the workflow carried when EndJob failed, keeping a good image', async () => {
    const stores = memoryStores();
    const backupId = await runningJob(stores, 1, 'exec-1', { catalogued: true });

    await endJobOfExecution(stores, { executionName: 'exec-1', status: 'FAILED', error: JOB_NOT_ENDED, cause: JSON.stringify({ jobId: 1, outcome: { statusCode: 0 }, endFailure: { Error: 'Lambda.ServiceException' } }) }, NOW);

    expect(await stores.jobs.get(1)).toMatchObject({ state: 'DONE', statusCode: 0 });
    expect((await stores.catalog.getImage(backupId))?.state).toBe('ACTIVE');
    expect(await slotFree(stores)).toBe(true);
  });

  it('withdraws the image of a job it ends with a failure: a job and its image always agree', async () => {
    const stores = memoryStores();
    const backupId = await runningJob(stores, 1, 'exec-1', { catalogued: true });

    const action = await endJobOfExecution(stores, { executionName: 'exec-1', status: 'ABORTED' }, NOW);

    expect(action).toMatchObject({ statusCode: 150, withdrawnImage: backupId });
    expect(await stores.catalog.getImage(backupId)).toBeUndefined();
    expect((await stores.catalog.listClaims()).map((c) => c.backupId)).toEqual([backupId]);
  });

  it('does nothing for an execution that queued no job', async () => {
    const stores = memoryStores();
    await stores.jobs.create(sampleJob(1, { executionName: 'other' }));
    expect(await endJobOfExecution(stores, { executionName: 'exec-1', status: 'FAILED', error: 'JobNotQueued' }, NOW)).toEqual({ executionName: 'exec-1', action: 'no-job', released: false });
    expect((await stores.jobs.get(1))?.state).toBe('QUEUED');
  });
});

describe('the sweep', () => {
  const statuses = (known: Record<string, ExecutionState>) => {
    const described: string[] = [];
    return { described, executions: { describe: async (name: string) => (described.push(name), known[name]) } };
  };

  it('ends the jobs whose execution is gone (2002) or ended, leaves running ones, and frees their slots', async () => {
    const stores = memoryStores();
    await runningJob(stores, 1, 'gone');
    await stores.jobs.create(sampleJob(2, { executionName: 'stopped', updatedAt: LONG_AGO }));
    await stores.jobs.create(sampleJob(3, { executionName: 'running', updatedAt: LONG_AGO }));
    await stores.jobs.create(sampleJob(4, { executionName: 'redriving', updatedAt: LONG_AGO }));
    const { executions } = statuses({ stopped: { status: 'ABORTED' }, running: { status: 'RUNNING' }, redriving: { status: 'PENDING_REDRIVE' } });

    const report = await sweepJobs({ ...stores, executions }, await stores.jobs.list(), NOW);

    expect(report.checked).toBe(4);
    expect(report.ended.map((a) => [a.jobId, a.statusCode])).toEqual([[1, 2002], [2, 150]]);
    expect(report.problems).toEqual([]);
    expect((await stores.jobs.list()).map((j) => [j.jobId, j.state])).toEqual([[4, 'QUEUED'], [3, 'QUEUED'], [2, 'DONE'], [1, 'DONE']]);
    expect(await slotFree(stores)).toBe(true);
  });

  it('checks only jobs quiet for a while, quietest first, at most its limit, and never jobs without an execution', async () => {
    const stores = memoryStores();
    const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();
    await stores.jobs.create(sampleJob(1, { executionName: 'fresh', updatedAt: ago(SWEEP_QUIET_SECONDS - 1) }));
    await stores.jobs.create(sampleJob(2, { executionName: 'quiet', updatedAt: ago(SWEEP_QUIET_SECONDS) }));
    await stores.jobs.create(sampleJob(3, { executionName: 'quieter', updatedAt: ago(SWEEP_QUIET_SECONDS + 60) }));
    await stores.jobs.create(sampleJob(4, { updatedAt: ago(86_400) }));
    await stores.jobs.create(sampleJob(5, { executionName: 'done', state: 'DONE', statusCode: 0, updatedAt: ago(86_400) }));
    const { executions, described } = statuses({});

    const report = await sweepJobs({ ...stores, executions }, await stores.jobs.list(), NOW, 1);

    expect(described).toEqual(['quieter']);
    expect(report.ended.map((a) => a.jobId)).toEqual([3]);
  });

  it('releases a slot a DONE or vanished job still holds, and not one a running job holds', async () => {
    const stores = memoryStores();
    const twoSlots = { ...slot, maxConcurrentJobs: 3 };
    await stores.jobs.create(sampleJob(1, { state: 'DONE', statusCode: 0 }));
    await stores.jobs.create(sampleJob(2, { state: 'ACTIVE' }));
    for (const jobId of [1, 2, 3]) await stores.media.reserve({ jobId, resources: [twoSlots], at: NOW });
    const { executions, described } = statuses({});

    const report = await sweepJobs({ ...stores, executions }, await stores.jobs.list(), NOW);

    expect(described).toEqual([]);
    expect(report.released).toEqual([1, 3]);
    expect((await stores.media.listReservations()).map((r) => r.jobId)).toEqual([2]);
  });

  it('names what it could not repair and carries on with the rest', async () => {
    const stores = memoryStores();
    await stores.jobs.create(sampleJob(1, { executionName: 'throttled', updatedAt: LONG_AGO }));
    await stores.jobs.create(sampleJob(2, { executionName: 'gone', updatedAt: LONG_AGO }));
    const executions = { describe: async (name: string) => (name === 'throttled' ? Promise.reject(new Error('ThrottlingException')) : undefined) };

    const report = await sweepJobs({ ...stores, executions }, await stores.jobs.list(), NOW);

    expect(report.problems).toEqual(['job 1 (execution throttled): ThrottlingException']);
    expect(report.ended.map((a) => a.jobId)).toEqual([2]);
  });
});

describe('the sweep and the lifecycle jobs (duplicate, image-cleanup, catalog-backup, catalog-check)', () => {
  const lifecycle = (jobId: number, owner: string, queuedAt: string): CatalogCheckJob =>
    CatalogCheckJob.parse({ jobId, type: 'catalog-check', client: 'cairn-catalog', repair: false, state: 'ACTIVE', owner, attempt: 1, attempts: [], progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, findings: {}, repairs: 0, unrepaired: 0, problems: [], queuedAt, startedAt: queuedAt, updatedAt: queuedAt });

  it('ends one a Lambda ran once the Lambda time limit has passed (2002), and leaves a younger one, one the CLI runs, and the execution lookups alone', async () => {
    const stores = memoryStores();
    const described: string[] = [];
    const executions = { describe: async (name: string) => (described.push(name), undefined) };
    await stores.jobs.create(lifecycle(1, 'lambda:scheduler:req-1', LONG_AGO));
    await stores.jobs.create(lifecycle(2, 'lambda:scheduler:req-2', new Date(NOW.getTime() - 5 * 60_000).toISOString()));
    await stores.jobs.create(lifecycle(3, 'cli:laptop:4242', LONG_AGO));

    const report = await sweepJobs({ ...stores, executions }, await stores.jobs.list(), NOW);

    expect(described).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.ended.map((a) => [a.jobId, a.statusCode])).toEqual([[1, 2002]]);
    expect(await stores.jobs.get(1)).toMatchObject({ state: 'DONE', statusCode: 2002, error: 'the Lambda invocation that ran the job (lambda:scheduler:req-1) ended, its time limit past, while the job was ACTIVE' });
    expect((await stores.jobs.list()).map((j) => [j.jobId, j.state])).toEqual([[3, 'ACTIVE'], [2, 'ACTIVE'], [1, 'DONE']]);
  });
});
