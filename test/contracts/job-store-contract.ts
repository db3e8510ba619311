import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore } from '#core/ports/job-store.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { type OpenStore, type StoreFixture, sampleJob } from './fixtures.ts';

export function describeJobStoreContract(adapter: string, open: OpenStore<JobStore>, skipReason?: string): void {
  describe.skipIf(Boolean(skipReason))(`JobStore contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: StoreFixture<JobStore>;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture?.cleanup?.();
    });

    it('allocates sequential job ids starting at 1', async () => {
      const ids = [await fixture.store.nextJobId(), await fixture.store.nextJobId(), await fixture.store.nextJobId()];
      expect(ids).toEqual([1, 2, 3]);
    });

    it('never hands out one job id twice to concurrent callers', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => fixture.store.nextJobId()));
      expect(new Set(ids).size).toBe(20);
      expect(Math.max(...ids)).toBe(20);
    });

    it('returns a created job exactly and refuses to create it twice', async () => {
      const job = sampleJob(1);
      await fixture.store.create(job);
      expect(await fixture.store.get(1)).toEqual(job);
      await expect(fixture.store.create(job)).rejects.toBeInstanceOf(ConflictError);
      expect(await fixture.store.get(2)).toBeUndefined();
    });

    it('updates a job through a change function', async () => {
      await fixture.store.create(sampleJob(1));
      const updated = await fixture.store.update(1, (job) => ({ ...job, state: 'ACTIVE', backupId: 'client1_1700000000' }));
      expect(updated.state).toBe('ACTIVE');
      expect(await fixture.store.get(1)).toEqual(updated);
    });

    it('refuses an update when the job is not in an expected state, and writes nothing', async () => {
      await fixture.store.create(sampleJob(1, { state: 'DONE', statusCode: 0 }));
      await expect(fixture.store.update(1, (job) => ({ ...job, state: 'ACTIVE' }), { expectedStates: ['QUEUED'] })).rejects.toBeInstanceOf(ConflictError);
      expect((await fixture.store.get(1))?.state).toBe('DONE');
    });

    it('rejects an update of an unknown job with NotFoundError', async () => {
      await expect(fixture.store.update(99, (job) => job)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('loses no update when many run at once', async () => {
      await fixture.store.create(sampleJob(1));
      await Promise.all(
        Array.from({ length: 10 }, () => fixture.store.update(1, (job) => ({ ...job, progress: { ...job.progress, files: job.progress.files + 1 } }))),
      );
      expect((await fixture.store.get(1))?.progress.files).toBe(10);
    });

    it('lists newest first, filtered by state, limited', async () => {
      for (let id = 1; id <= 12; id++) await fixture.store.create(sampleJob(id, { state: id % 3 === 0 ? 'DONE' : 'QUEUED' }));
      expect((await fixture.store.list()).map((j) => j.jobId)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      expect((await fixture.store.list({ state: 'DONE' })).map((j) => j.jobId)).toEqual([12, 9, 6, 3]);
      expect((await fixture.store.list({ limit: 3 })).map((j) => j.jobId)).toEqual([12, 11, 10]);
      expect((await fixture.store.list({ state: 'QUEUED', limit: 2 })).map((j) => j.jobId)).toEqual([11, 10]);
    });
  });
}
