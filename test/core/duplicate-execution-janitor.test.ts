import { describe, expect, it } from 'vitest';
import { LAMBDA_JOB_LIMIT_SECONDS, sweepJobs } from '#core/jobs/execution-janitor.ts';
import type { DuplicateJob } from '#core/model/job.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { executionEvent } from '../iam/record-components.ts';

const NOW = new Date('2026-11-23T02:00:00Z');
/** Long past a Lambda's time limit: a Lambda-owned job queued then has lost its runner. */
const LONG_AGO = new Date(NOW.getTime() - (LAMBDA_JOB_LIMIT_SECONDS + 3600) * 1000).toISOString();

/** A duplicate job ACTIVE and quiet since LONG_AGO: a workflow's (`executionName`) or a process's (`owner`). */
function copying(jobId: number, run: { executionName: string } | { owner: string }): DuplicateJob {
  return {
    jobId,
    type: 'duplicate',
    state: 'ACTIVE',
    attempt: 1,
    client: 'host1',
    image: 'host1_1763860000',
    storageUnit: 's3copy',
    ...run,
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    queuedAt: LONG_AGO,
    updatedAt: LONG_AGO,
  };
}

describe('the execution janitor and duplicate executions', () => {
  it('the sweep looks a workflow\'s duplicate job up by its execution (running: kept; timed out: 41), and ends a Lambda-owned one past the time limit (2002)', async () => {
    const stores = memoryStores();
    await stores.jobs.create(copying(7, { executionName: 'dup.running.1' }));
    await stores.jobs.create(copying(8, { executionName: 'dup.timed-out.1' }));
    await stores.jobs.create(copying(9, { owner: 'lambda:scheduler:req-1' }));
    const asked: string[] = [];
    const on = (machine: string, states: Record<string, { status: 'RUNNING' | 'TIMED_OUT' }>) => ({ describe: async (name: string) => (asked.push(`${machine}:${name}`), states[name]) });

    const report = await sweepJobs({ ...stores, executions: on('backup', {}), duplicateExecutions: on('duplicate', { 'dup.running.1': { status: 'RUNNING' }, 'dup.timed-out.1': { status: 'TIMED_OUT' } }) }, await stores.jobs.list(), NOW);

    expect(asked.sort()).toEqual(['duplicate:dup.running.1', 'duplicate:dup.timed-out.1']);
    expect(report.ended.map((a) => [a.jobId, a.statusCode])).toEqual([[8, 41], [9, 2002]]);
    expect((await stores.jobs.get(7))?.state).toBe('ACTIVE');
  });

  it('without the duplicate workflow, a workflow\'s duplicate job is neither looked up nor ended as a lapsed Lambda job', async () => {
    const stores = memoryStores();
    await stores.jobs.create(copying(7, { executionName: 'dup.running.1' }));
    const asked: string[] = [];

    const report = await sweepJobs({ ...stores, executions: { describe: async (name) => (asked.push(name), undefined) } }, await stores.jobs.list(), NOW);

    expect(asked).toEqual([]);
    expect(report.ended).toEqual([]);
    expect((await stores.jobs.get(7))?.state).toBe('ACTIVE');
  });

  it('the janitor Lambda ends a duplicate job on its state machine\'s event', async () => {
    const backups = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-backup-job';
    const duplicates = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-duplicate-job';
    const stores = memoryStores();
    await stores.jobs.create(copying(7, { executionName: 'dup.stopped.1' }));
    const handler = createJanitorHandler({ ...stores, stateMachineArn: backups, duplicateStateMachineArn: duplicates });

    expect(await handler(executionEvent(duplicates, 'dup.stopped.1', 'ABORTED'))).toMatchObject({ jobId: 7, action: 'ended', statusCode: 150 });
    expect(await stores.jobs.get(7)).toMatchObject({ type: 'duplicate', state: 'DONE', statusCode: 150 });
  });
});
