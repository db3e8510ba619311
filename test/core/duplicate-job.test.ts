import { describe, expect, it } from 'vitest';
import { queueDuplicateJob, recordDuplicateCopy, startDuplicateJob } from '#core/jobs/duplicate-job.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { primaryCopy, type Image } from '#core/model/image.ts';
import type { DuplicateTaskResult } from '#core/model/duplicate-task.ts';
import { sampleImage } from '../contracts/fixtures.ts';
import { memoryStores, type MemoryStores } from '../memory/memory-stores.ts';

const NOW = new Date('2026-11-03T03:00:00Z');

async function withImage(): Promise<{ stores: MemoryStores; image: Image }> {
  const stores = memoryStores(NOW.toISOString());
  await stores.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/srv/cairn/disk1' }));
  await stores.config.putStorageUnit(StorageUnit.parse({ name: 's3copy', kind: 's3', bucket: 'cairn-copies', prefix: 'a' }));
  await stores.config.putStorageUnit(StorageUnit.parse({ name: 'offsite', kind: 's3', bucket: 'cairn-offsite', prefix: 'b' }));
  const image = sampleImage('client1', new Date('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
  expect(await stores.catalog.claimBackupId({ backupId: image.backupId, jobId: 1, client: 'client1', storageUnit: 'disk1', claimedAt: image.createdAt })).toBe(true);
  await stores.catalog.putImage(image);
  return { stores, image };
}

/** Queue and Start a duplicate job to `to`; the agent's answer: the copy as Start numbered it. */
async function started(stores: MemoryStores, image: Image, to: string): Promise<{ jobId: number; result: DuplicateTaskResult }> {
  const { jobId } = await queueDuplicateJob(stores, { backupId: image.backupId, to }, NOW);
  const { command } = await startDuplicateJob(stores, jobId, NOW);
  return { jobId, result: { copy: { ...primaryCopy(image), copyNumber: command.task.copyNumber, storageUnit: to }, objects: 3, bytes: 1234 } };
}

describe('the duplicate job\'s Record step', () => {
  it('catalogues the copy once: a second job to the same unit that wrote it too ends 0 as alreadyPresent, with nothing catalogued', async () => {
    const { stores, image } = await withImage();
    const a = await started(stores, image, 's3copy');
    const b = await started(stores, image, 's3copy');

    expect(await recordDuplicateCopy(stores, a.jobId, a.result, NOW)).toEqual({ statusCode: 0 });
    expect(await recordDuplicateCopy(stores, b.jobId, b.result, NOW)).toEqual({ statusCode: 0 });

    expect((await stores.catalog.getImage(image.backupId))!.copies.map((c) => [c.copyNumber, c.storageUnit])).toEqual([[1, 'disk1'], [2, 's3copy']]);
    expect(await stores.jobs.get(a.jobId)).toMatchObject({ copyNumber: 2, progress: { files: 3, bytes: 1234 } });
    expect((await stores.jobs.get(a.jobId)) as object).not.toHaveProperty('alreadyPresent');
    expect(await stores.jobs.get(b.jobId)).toMatchObject({ copyNumber: 2, alreadyPresent: true });
    // Queue now refuses a third: the unit holds copy 2.
    await expect(queueDuplicateJob(stores, { backupId: image.backupId, to: 's3copy' }, NOW)).rejects.toMatchObject({ statusCode: 20, message: expect.stringContaining('already has copy 2') });
  });

  it('fails with 2005 when another copy took the number meanwhile, and with 20 when the image began expiring; nothing is catalogued', async () => {
    const { stores, image } = await withImage();
    const first = await started(stores, image, 's3copy');
    const other = await started(stores, image, 'offsite');
    await recordDuplicateCopy(stores, first.jobId, first.result, NOW);

    const clash = await recordDuplicateCopy(stores, other.jobId, other.result, NOW);
    expect(clash).toMatchObject({ failure: { Error: 'Status2005', Cause: expect.stringContaining('copy number 2 was taken') } });

    const late = await started(stores, image, 'offsite');
    await stores.catalog.updateImage(image.backupId, (current) => ({ ...current, state: 'EXPIRED' }));
    expect(await recordDuplicateCopy(stores, late.jobId, late.result, NOW)).toMatchObject({ failure: { Error: 'Status20', Cause: expect.stringContaining('being expired') } });
    expect((await stores.catalog.getImage(image.backupId))!.copies.map((c) => c.storageUnit)).toEqual(['disk1', 's3copy']);
  });

  it('catalogues nothing for a job cancelled after its agent wrote the copy: its status stands', async () => {
    const { stores, image } = await withImage();
    const job = await started(stores, image, 's3copy');
    await stores.jobs.update(job.jobId, (j) => ({ ...j, state: 'DONE', statusCode: 150 }));

    expect(await recordDuplicateCopy(stores, job.jobId, job.result, NOW)).toMatchObject({ failure: { Error: 'Status150', Cause: expect.stringContaining('not catalogued') } });
    expect((await stores.catalog.getImage(image.backupId))!.copies).toHaveLength(1);
  });

  it('refuses a tape source or target at Queue with 20, naming the unit', async () => {
    const { stores, image } = await withImage();
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'vault', kind: 'tape', robot: 'tld0', pool: 'p', index: { name: 'i', kind: 'disk', path: '/srv/cairn/tape-index' } }));

    await expect(queueDuplicateJob(stores, { backupId: image.backupId, to: 'vault' }, NOW)).rejects.toMatchObject({ statusCode: 20, message: expect.stringContaining('storage unit vault is a tape unit: the cloud duplicate job does not reserve drives yet') });
    expect(await stores.jobs.list()).toEqual([]);
  });
});
