import { describe, expect, it } from 'vitest';
import { sweepJobs } from '#core/jobs/execution-janitor.ts';
import { queueCatalogJob, runCatalogJob } from '#core/jobs/catalog-job.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { executionEvent } from '../iam/record-components.ts';

const NOW = new Date('2026-11-23T02:00:00Z');
const backups = 'arn:aws:states:us-east-1:123456789012:stateMachine:backup-job';
const catalogJobs = 'arn:aws:states:us-east-1:123456789012:stateMachine:catalog-job';
const check = (executionName: string) => ({ kind: 'catalog-check', policy: 'nightly', repair: false, graceSeconds: 60, dueAt: NOW.toISOString(), executionName });

describe('the cloud catalog jobs and their executions', () => {
  it('queue once per execution name, and the janitor ends the job of a catalog-job execution that timed out (41), refusing one of another kind', async () => {
    const stores = memoryStores();
    const first = await queueCatalogJob(stores.jobs, check('nightly.cairn-catalog.catalog-check.1'), NOW);
    // A retried Queue answers with the job it created.
    expect(await queueCatalogJob(stores.jobs, check('nightly.cairn-catalog.catalog-check.1'), NOW)).toEqual(first);
    expect(await stores.jobs.get(first.jobId)).toMatchObject({ type: 'catalog-check', state: 'QUEUED', policy: 'nightly', executionName: 'nightly.cairn-catalog.catalog-check.1' });

    const handler = createJanitorHandler({ ...stores, clock: new FakeClock(NOW), stateMachineArn: backups, catalogStateMachineArn: catalogJobs });
    expect(await handler(executionEvent(catalogJobs, 'nightly.cairn-catalog.catalog-check.1', 'TIMED_OUT'))).toMatchObject({ jobId: first.jobId, action: 'ended', statusCode: 41 });
    expect(await stores.jobs.get(first.jobId)).toMatchObject({ state: 'DONE', statusCode: 41 });
    // Without the catalog-job state machine, its events are refused (20).
    await expect(createJanitorHandler({ ...stores, clock: new FakeClock(NOW), stateMachineArn: backups })(executionEvent(catalogJobs, 'x', 'FAILED'))).rejects.toMatchObject({ name: 'Status20' });
  });

  it('are swept by their execution on the catalog-job state machine: one Step Functions no longer knows ends 2002', async () => {
    const stores = memoryStores();
    const { jobId } = await queueCatalogJob(stores.jobs, check('nightly.cairn-catalog.catalog-check.2'), new Date(NOW.getTime() - 3600_000));
    const looked: string[] = [];
    const none = { describe: async () => undefined };
    // Without catalogExecutions the sweep leaves it (never looked up on another kind's state machine).
    expect((await sweepJobs({ ...stores, executions: none }, await stores.jobs.list({ limit: 10 }), NOW)).ended).toEqual([]);
    const report = await sweepJobs({ ...stores, executions: none, catalogExecutions: { describe: async (name: string) => void looked.push(name) } }, await stores.jobs.list({ limit: 10 }), NOW);
    expect(looked).toEqual(['nightly.cairn-catalog.catalog-check.2']);
    expect(report.ended).toMatchObject([{ jobId, action: 'ended', statusCode: 2002 }]);
  });

  it('refuse a catalog backup to a disk unit when the job runs (219), naming the unit and what to do', async () => {
    const stores = memoryStores();
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/srv/cairn' }));
    const request = { kind: 'catalog-backup', policy: 'nightly', storageUnit: 'disk1', dueAt: NOW.toISOString(), executionName: 'nightly.cairn-catalog.catalog-backup.1' };
    const { jobId } = await queueCatalogJob(stores.jobs, request, NOW);
    let wrote = false;
    const deps = { jobs: stores.jobs, config: stores.config, now: () => NOW, timer: { every: () => () => undefined }, check: {} as never, writeCatalogImage: async () => ((wrote = true), { backupId: 'x', drFile: 'y', catalogBytes: 1 }) };
    await expect(runCatalogJob(deps, jobId, request)).rejects.toMatchObject({ statusCode: 219 });
    expect(wrote).toBe(false);
    const job = await stores.jobs.get(jobId);
    expect(job).toMatchObject({ state: 'DONE', statusCode: 219 });
    expect(job?.error).toContain("storage unit disk1 (policy nightly's catalog backup) is a disk unit on an agent's host, which the cloud's catalog-job Lambda cannot reach");
  });
});
