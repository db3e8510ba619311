import { expect, it } from 'vitest';
import type { JobStore } from '#core/ports/job-store.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { type OpenStore, sampleJob, sampleRestoreJob, describeContract } from './fixtures.ts';

export function describeJobStoreContract(adapter: string, open: OpenStore<JobStore>, skipReason?: string): void {
  describeContract('JobStore', adapter, open, skipReason, (store) => {

    it('allocates sequential job ids starting at 1', async () => {
      const ids = [await store().nextJobId(), await store().nextJobId(), await store().nextJobId()];
      expect(ids).toEqual([1, 2, 3]);
    });

    it('never hands out one job id twice to concurrent callers', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => store().nextJobId()));
      expect(new Set(ids).size).toBe(20);
      expect(Math.max(...ids)).toBe(20);
    });

    it('returns a created job exactly and refuses to create it twice', async () => {
      const job = sampleJob(1);
      await store().create(job);
      expect(await store().get(1)).toEqual(job);
      await expect(store().create(job)).rejects.toBeInstanceOf(ConflictError);
      expect(await store().get(2)).toBeUndefined();
    });

    it('refuses a second job with the same execution name, even when both race', async () => {
      const results = await Promise.allSettled([
        store().create(sampleJob(1, { executionName: 'nightly.c1.full.1795399200' })),
        store().create(sampleJob(2, { executionName: 'nightly.c1.full.1795399200' })),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(ConflictError);
      expect((await store().list()).map((j) => j.executionName)).toEqual(['nightly.c1.full.1795399200']);
      await store().create(sampleJob(3, { executionName: 'nightly.c1.full.1795485600' }));
    });

    it('updates a job through a change function', async () => {
      await store().create(sampleJob(1));
      const updated = await store().update(1, (job) => ({ ...job, state: 'ACTIVE', backupId: 'client1_1700000000' }));
      expect(updated.state).toBe('ACTIVE');
      expect(await store().get(1)).toEqual(updated);
    });

    it('refuses an update when the job is not in an expected state, and writes nothing', async () => {
      await store().create(sampleJob(1, { state: 'DONE', statusCode: 0 }));
      await expect(store().update(1, (job) => ({ ...job, state: 'ACTIVE' }), { expectedStates: ['QUEUED'] })).rejects.toBeInstanceOf(ConflictError);
      expect((await store().get(1))?.state).toBe('DONE');
    });

    it('rejects an update of an unknown job with NotFoundError', async () => {
      await expect(store().update(99, (job) => job)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('loses no update when many run at once', async () => {
      await store().create(sampleJob(1));
      await Promise.all(
        Array.from({ length: 10 }, () => store().update(1, (job) => ({ ...job, progress: { ...job.progress, files: job.progress.files + 1 } }))),
      );
      expect((await store().get(1))?.progress.files).toBe(10);
    });

    it('lists newest first, filtered by state, limited', async () => {
      for (let id = 1; id <= 12; id++) await store().create(sampleJob(id, { state: id % 3 === 0 ? 'DONE' : 'QUEUED' }));
      expect((await store().list()).map((j) => j.jobId)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      expect((await store().list({ state: 'DONE' })).map((j) => j.jobId)).toEqual([12, 9, 6, 3]);
      expect((await store().list({ limit: 3 })).map((j) => j.jobId)).toEqual([12, 11, 10]);
      expect((await store().list({ state: 'QUEUED', limit: 2 })).map((j) => j.jobId)).toEqual([11, 10]);
    });

    it('keeps jobs of every kind with their own details', async () => {
      await store().create(sampleJob(1));
      await store().create(sampleRestoreJob(2));
      await store().update(2, (job) => ({ ...job, state: 'ACTIVE' }));
      expect(await store().get(2)).toEqual({ ...sampleRestoreJob(2), state: 'ACTIVE' });
      expect((await store().list()).map((j) => j.type)).toEqual(['restore', 'backup']);
    });
  });
}
