import { describe, expect, it } from 'vitest';
import { endJobOfExecution, sweepJobs } from '#core/jobs/execution-janitor.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { memoryStores, type MemoryStores } from '../memory/memory-stores.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { executionEvent } from '../iam/record-components.ts';

const NOW = new Date('2026-11-23T02:00:00Z');
const LONG_AGO = new Date(NOW.getTime() - 3600_000).toISOString();
const AT = new Date('2026-11-23T01:00:00Z');

/** A verify job of `executionName`, ACTIVE and quiet for an hour, reading volume V00001 in drive vtl-d0 (a tape image's Read). */
async function verifying(stores: MemoryStores, jobId: number, executionName: string): Promise<void> {
  const job: VerifyJob = {
    jobId,
    type: 'verify',
    state: 'ACTIVE',
    attempt: 1,
    client: 'host1',
    image: 'host1_1763860000',
    storageUnit: 'tape1',
    problems: [],
    problemCount: 0,
    volumes: [{ mediaId: 'V00001', fragments: [1], read: false }],
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    executionName,
    queuedAt: LONG_AGO,
    updatedAt: LONG_AGO,
  };
  await stores.jobs.create(job);
  const granted = await stores.media.reserve({ jobId, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'vtl-d0' }, { kind: 'volume', pool: 'scratch', mediaId: 'V00001' }], at: AT });
  expect(granted.granted).toBe(true);
}

describe('the execution janitor and verify executions', () => {
  it('ends a verify job whose execution was stopped with 150 and frees its drive and volume', async () => {
    const stores = memoryStores();
    await verifying(stores, 7, 'verify-stopped');

    const action = await endJobOfExecution(stores, { executionName: 'verify-stopped', kind: 'verify', status: 'ABORTED' }, NOW);

    expect(action).toMatchObject({ jobId: 7, action: 'ended', statusCode: 150, released: true });
    expect(await stores.jobs.get(7)).toMatchObject({ type: 'verify', state: 'DONE', statusCode: 150 });
    expect(await stores.media.listReservations()).toEqual([]);
  });

  it('the sweep looks a verify job\'s execution up on the verify-job workflow, and ends it when that execution ended without ending it', async () => {
    const stores = memoryStores();
    await verifying(stores, 7, 'verify-timed-out');
    const asked: string[] = [];
    const on = (machine: string, states: Record<string, { status: 'RUNNING' | 'ABORTED' | 'TIMED_OUT' }>) => ({ describe: async (name: string) => (asked.push(`${machine}:${name}`), states[name]) });

    const report = await sweepJobs({ ...stores, executions: on('backup', {}), restoreExecutions: on('restore', {}), verifyExecutions: on('verify', { 'verify-timed-out': { status: 'TIMED_OUT' } }) }, await stores.jobs.list(), NOW);

    expect(asked).toEqual(['verify:verify-timed-out']);
    expect(report.ended).toEqual([expect.objectContaining({ jobId: 7, statusCode: 41, released: true })]);
    expect(await stores.media.listReservations()).toEqual([]);
  });

  it('without the verify workflow, never checks a verify job (it would be ended as gone)', async () => {
    const stores = memoryStores();
    await verifying(stores, 7, 'verify-running');
    const asked: string[] = [];

    const report = await sweepJobs({ ...stores, executions: { describe: async (name) => (asked.push(name), undefined) } }, await stores.jobs.list(), NOW);

    expect(asked).toEqual([]);
    expect(report.ended).toEqual([]);
    expect((await stores.jobs.get(7))?.state).toBe('ACTIVE');
  });

  it('the janitor Lambda ends a verify job on its state machine\'s event, and leaves a backup job of the same execution name alone', async () => {
    const backups = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-backup-job';
    const verifies = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-verify-job';
    const stores = memoryStores();
    await verifying(stores, 7, 'verify-1');
    await stores.jobs.create(sampleJob(8, { state: 'ACTIVE', executionName: 'same-name' }));
    const handler = createJanitorHandler({ ...stores, stateMachineArn: backups, verifyStateMachineArn: verifies });

    expect(await handler(executionEvent(verifies, 'verify-1', 'ABORTED'))).toMatchObject({ jobId: 7, action: 'ended', statusCode: 150, released: true });
    expect(await handler(executionEvent(verifies, 'same-name', 'ABORTED'))).toMatchObject({ action: 'no-job' });
    expect((await stores.jobs.get(8))?.state).toBe('ACTIVE');
    // Without the verify-job state machine, its events are refused (20).
    await expect(createJanitorHandler({ ...stores, stateMachineArn: backups })(executionEvent(verifies, 'verify-1', 'ABORTED'))).rejects.toMatchObject({ name: 'Status20' });
  });
});
