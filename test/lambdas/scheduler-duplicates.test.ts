import { describe, expect, it } from 'vitest';
import { Policy } from '#core/model/policy.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { DuplicateJob } from '#core/model/job.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { duplicateExecutionName } from '#core/schedule/duplicate-starts.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';

const NOW = '2026-11-03T03:00:00.000Z';

/** A policy whose images are copied to `units`, kept 30 days. */
async function storesWithCopies(units: string[]) {
  const stores = memoryStores(NOW);
  await stores.config.putPolicy(Policy.parse({ ...samplePolicy('daily-home'), copies: units.map((storageUnit) => ({ storageUnit, retention: { days: 30 } })) }));
  const image = sampleImage('client1', new Date('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
  expect(await stores.catalog.claimBackupId({ backupId: image.backupId, jobId: 1, client: 'client1', storageUnit: 'disk1', claimedAt: image.createdAt })).toBe(true);
  await stores.catalog.putImage(image);
  return { stores, image };
}

/** The duplicate job a run of execution `name` left, ended with `statusCode`. */
function endedDuplicateJob(jobId: number, image: string, storageUnit: string, name: string, statusCode: number): DuplicateJob {
  return {
    jobId,
    type: 'duplicate',
    state: 'DONE',
    statusCode,
    attempt: 1,
    client: 'client1',
    image,
    storageUnit,
    executionName: name,
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    queuedAt: NOW,
    endedAt: NOW,
    updatedAt: NOW,
  };
}

describe('the scheduler Lambda and policy copies', () => {
  it('starts a due copy as a duplicate-job execution once however often it ticks, and a failed copy again under a new name', async () => {
    const { stores, image } = await storesWithCopies(['s3copy']);
    const duplicates = new MemoryExecutionStarter();
    const tick = createSchedulerHandler({ ...stores, starter: new MemoryExecutionStarter(), duplicates });

    const first = await tick({});
    const second = await tick({});

    const name = duplicateExecutionName(image.backupId, 's3copy', 1);
    expect(first.duplicates).toMatchObject({ started: [name], alreadyStarted: [], problems: [] });
    expect(second.duplicates).toMatchObject({ started: [], alreadyStarted: [name], problems: [] });
    expect([...duplicates.executions.started.values()]).toEqual([
      { request: { backupId: image.backupId, to: 's3copy', expiresAt: '2026-12-02T22:00:00.000Z', policy: 'daily-home', executionName: name } },
    ]);

    // The first run failed (the source was corrupt, say): the next tick starts the copy again, under the next name.
    await stores.jobs.create(endedDuplicateJob(await stores.jobs.nextJobId(), image.backupId, 's3copy', name, 2001));
    const third = await tick({});
    const retried = duplicateExecutionName(image.backupId, 's3copy', 2);
    expect(third.duplicates).toMatchObject({ started: [retried], problems: [] });
    expect(retried).not.toBe(name);
    expect(duplicates.executions.started.size).toBe(2);
  });

  it('starts one copy of an image at a time (both would take the next copy number), and none while a duplicate job of the image runs', async () => {
    const { stores, image } = await storesWithCopies(['s3copy', 'offsite']);
    const duplicates = new MemoryExecutionStarter();
    const tick = createSchedulerHandler({ ...stores, starter: new MemoryExecutionStarter(), duplicates });

    const first = await tick({});
    expect(first.duplicates?.started).toEqual([duplicateExecutionName(image.backupId, 's3copy', 1)]);
    expect(first.duplicates?.waiting).toEqual([`${image.backupId} to offsite`]);

    // Its job is QUEUED: the other copy waits for it to end.
    await stores.jobs.create({ ...endedDuplicateJob(await stores.jobs.nextJobId(), image.backupId, 's3copy', first.duplicates!.started[0]!, 0), state: 'QUEUED', statusCode: undefined, endedAt: undefined });
    const second = await tick({});
    expect(second.duplicates).toMatchObject({ started: [], alreadyStarted: [], waiting: [`${image.backupId} to s3copy`, `${image.backupId} to offsite`] });
  });

  it('skips a copy to a tape unit (the workflow would refuse it), and starts again a copy whose execution Queue refused (closed, no job)', async () => {
    const { stores, image } = await storesWithCopies(['vault', 's3copy']);
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'vault', kind: 'tape', robot: 'r', pool: 'p', index: { name: 'i', kind: 'disk', path: '/srv/idx' } }));
    const duplicates = new MemoryExecutionStarter();
    const closed = new Set<string>();
    const duplicateExecutions = { describe: async (name: string) => (closed.has(name) ? { status: 'FAILED', error: 'JobNotQueued' } : { status: 'RUNNING' }) };
    const tick = createSchedulerHandler({ ...stores, starter: new MemoryExecutionStarter(), duplicates, sweep: { executions: { describe: async () => undefined }, duplicateExecutions, media: stores.media } });

    const first = await tick({});
    const name = duplicateExecutionName(image.backupId, 's3copy', 1);
    expect(first.duplicates).toMatchObject({ started: [name], skipped: [`${image.backupId} to vault: storage unit vault is a tape unit (the cloud duplicate job does not reserve drives yet)`], problems: [] });
    // Still running, no job yet: started already.
    expect((await tick({})).duplicates).toMatchObject({ started: [], alreadyStarted: [name] });

    // Its Queue refused it (a store failure): closed with no job, so the next tick starts the next attempt.
    closed.add(name);
    const third = await tick({});
    expect(third.duplicates).toMatchObject({ started: [duplicateExecutionName(image.backupId, 's3copy', 2)], problems: [] });
  });

  it('keeps execution names to what Step Functions accepts, one per attempt', () => {
    const long = duplicateExecutionName(`${'c'.repeat(70)}_1700000000`, 'unit:with:colons', 3);
    expect(long).toMatch(/^[A-Za-z0-9._-]{1,80}$/);
    expect(long.endsWith('.3')).toBe(true);
    expect(duplicateExecutionName('client1_1700000000', 's3copy', 1)).toBe('dup.client1_1700000000.s3copy.1');
  });
});
