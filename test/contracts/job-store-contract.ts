import { describe, expect, it } from 'vitest';
import type { JobStore } from '#core/ports/job-store.ts';
import { ConflictError, NotFoundError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { emptyUsage, type UsageCounters } from '#core/model/job-usage.ts';
import { MAX_THROUGHPUT_SAMPLES, type BackupJob } from '#core/model/job.ts';
import { type OpenStore, sampleJob, sampleRestoreJob, describeContract } from './fixtures.ts';
import { addChildJob } from '#core/jobs/data-streams.ts';
import { runAsJob } from '#core/jobs/lifecycle-job.ts';
import { CairnError } from '#core/errors.ts';
import { describeStatus } from '#core/status-codes.ts';

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

    it('finds a job by the name of the execution that runs it, as it is now', async () => {
      await store().create(sampleJob(1, { executionName: 'nightly.c1.full.1795399200' }));
      await store().create(sampleJob(2));
      await store().update(1, (job) => ({ ...job, state: 'ACTIVE' }));
      expect(await store().findByExecution('nightly.c1.full.1795399200')).toEqual(await store().get(1));
      expect((await store().findByExecution('nightly.c1.full.1795399200'))?.state).toBe('ACTIVE');
      expect(await store().findByExecution('nightly.c1.full.1795485600')).toBeUndefined();
      expect(await store().findByExecution('')).toBeUndefined();
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

    it('keeps the drives and volumes a tape job was given, through updates and progress reports', async () => {
      await store().create(sampleJob(1));
      await store().update(1, (job) => ({ ...(job as BackupJob), state: 'ACTIVE', volumes: ['CRN001L6'], drives: ['d0'] }));
      await store().recordProgress(1, { bytes: 10 }, new Date('2026-12-03T04:00:00.000Z'));
      await store().update(1, (job) => ({ ...job, drives: [...(job.drives ?? []), 'd1'] }));
      expect(await store().get(1)).toMatchObject({ volumes: ['CRN001L6'], drives: ['d0', 'd1'], progress: { bytes: 10 } });
    });

    it('keeps jobs of every kind with their own details', async () => {
      await store().create(sampleJob(1));
      await store().create(sampleRestoreJob(2));
      await store().update(2, (job) => ({ ...job, state: 'ACTIVE' }));
      expect(await store().get(2)).toEqual({ ...sampleRestoreJob(2), state: 'ACTIVE' });
      expect((await store().list()).map((j) => j.type)).toEqual(['restore', 'backup']);
    });

    it('keeps the lifecycle kinds (duplicate, image-cleanup, catalog-backup, catalog-check) run as jobs, beside the older kinds', async () => {
      await store().create(sampleJob(await store().nextJobId()));
      let t = Date.parse('2026-03-01T10:00:00.000Z');
      const deps = { jobs: store(), now: () => new Date((t += 1000)), owner: 'local:host:42', timer: { every: () => () => undefined } };
      const seen: string[] = [];
      const dup = await runAsJob(deps, 'duplicate', { client: 'host1', image: 'host1_1700000000', storageUnit: 'archive', policy: 'daily-home' }, async (job) => {
        seen.push((await store().get(job.jobId))!.state);
        await job.progress({ bytes: 512, files: 2 });
        return 3;
      }, (copyNumber) => ({ statusCode: 0, fields: { copyNumber, fromCopy: 1 }, progress: { bytes: 1024, files: 4 } }));
      const cleanup = await runAsJob(deps, 'image-cleanup', { client: 'cairn-catalog', trigger: 'tick' }, async () => 'x', () => ({ statusCode: 1, reason: '1 problem(s)', fields: { expired: ['a_1', 'b_2'], expiredCount: 2, recycledVolumes: ['CRN001'], problems: ['image c_3: gone'], problemCount: 1 } }));
      const backup = runAsJob(deps, 'catalog-backup', { client: 'cairn-catalog', storageUnit: 'nowhere' }, async (job) => {
        await job.record({ image: 'cairn-catalog_1772359200' });
        throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, 'storage unit nowhere does not exist');
      }, () => ({ statusCode: 0 }));
      await expect(backup).rejects.toThrow('storage unit nowhere does not exist');
      const check = await runAsJob(deps, 'catalog-check', { client: 'cairn-catalog', repair: true }, async () => undefined, () => ({ statusCode: 0, fields: { findings: { 'orphan-object': 2 }, repairs: 2 } }));

      expect(seen).toEqual(['ACTIVE']);
      expect((await store().list()).map((j) => [j.jobId, j.type, j.state, j.statusCode])).toEqual([
        [check.jobId, 'catalog-check', 'DONE', 0],
        [check.jobId - 1, 'catalog-backup', 'DONE', StatusCode.STORAGE_UNIT_UNAVAILABLE],
        [cleanup.jobId, 'image-cleanup', 'DONE', 1],
        [dup.jobId, 'duplicate', 'DONE', 0],
        [1, 'backup', 'QUEUED', undefined],
      ]);
      expect(await store().get(dup.jobId)).toMatchObject({ client: 'host1', image: 'host1_1700000000', storageUnit: 'archive', copyNumber: 3, fromCopy: 1, policy: 'daily-home', owner: 'local:host:42', progress: { bytes: 1024, files: 4 }, queuedAt: '2026-03-01T10:00:01.000Z', startedAt: '2026-03-01T10:00:02.000Z', endedAt: '2026-03-01T10:00:04.000Z' });
      expect(await store().get(cleanup.jobId)).toMatchObject({ trigger: 'tick', expiredCount: 2, recycledVolumes: ['CRN001'], problemCount: 1, error: '1 problem(s)', statusText: describeStatus(1) });
      expect(await store().get(check.jobId - 1)).toMatchObject({ image: 'cairn-catalog_1772359200', error: 'storage unit nowhere does not exist' });
      expect(await store().get(check.jobId)).toMatchObject({ repair: true, findings: { 'orphan-object': 2 }, repairs: 2, unrepaired: 0 });
    });

    describe('where adapters used to disagree', () => {
      it('refuses a change that alters the job id, and writes nothing', async () => {
        await store().create(sampleJob(1));
        await expect(store().update(1, (job) => ({ ...job, jobId: 2, state: 'ACTIVE' }))).rejects.toBeInstanceOf(ValidationError);
        expect(await store().get(1)).toEqual(sampleJob(1));
        expect(await store().get(2)).toBeUndefined();
      });

      it('refuses a job id that is not a whole number from 1, and a negative list limit', async () => {
        for (const jobId of [0, -1, 1.5]) await expect(store().create(sampleJob(jobId))).rejects.toBeInstanceOf(ValidationError);
        expect(await store().list()).toEqual([]);
        await store().create(sampleJob(1));
        await expect(store().list({ limit: -1 })).rejects.toBeInstanceOf(ValidationError);
        expect(await store().list({ limit: 0 })).toEqual([]);
      });

      it('says a missing job is a missing job, and a state conflict is not worth retrying', async () => {
        const missing = await store().update(99, (job) => job).catch((e: unknown) => e);
        expect(missing).toMatchObject({ statusCode: StatusCode.JOB_NOT_FOUND, message: 'job 99 not found' });
        await store().create(sampleJob(1, { state: 'DONE', statusCode: 150 }));
        const conflict = await store().update(1, (job) => job, { expectedStates: ['ACTIVE'] }).catch((e: unknown) => e);
        expect(conflict).toBeInstanceOf(ConflictError);
        expect(conflict).toMatchObject({ statusCode: StatusCode.CONFLICT, retryable: false });
        const twice = await store().create(sampleJob(1)).catch((e: unknown) => e);
        expect(twice).toMatchObject({ statusCode: StatusCode.CONFLICT, retryable: false });
      });
    });
  });
  // recordProgress: the agent's one write (one conditional UpdateItem on AWS, see cdk/constructs/agent-role.ts).
  describeContract('JobStore.recordProgress', adapter, open, skipReason, (store) => {
    const at = new Date('2026-11-20T10:00:05.000Z');

    it('merges the reported fields into an ACTIVE job and sets updatedAt, leaving the rest as it was', async () => {
      const job = sampleJob(1, { state: 'ACTIVE', progress: { files: 1, bytes: 10, throughputBps: 5, writerWaits: 2, readerWaits: 3 } });
      await store().create(job);
      expect(await store().recordProgress(1, { files: 7, bytes: 700, currentPath: '/home/a' }, at)).toEqual({ recorded: true });
      expect(await store().get(1)).toEqual({ ...job, progress: { files: 7, bytes: 700, throughputBps: 5, writerWaits: 2, readerWaits: 3, currentPath: '/home/a' }, updatedAt: at.toISOString() });
      expect((await store().list())[0]?.progress.files).toBe(7);
    });

    it('keeps the data path timings (the figures of the bottleneck verdict), each report replacing the last', async () => {
      await store().create(sampleJob(1, { state: 'ACTIVE' }));
      const times = { elapsedMs: 1500, readMs: 1200, writeMs: 300, hashMs: 200, readerWaitMs: 10, writerWaitMs: 900, mainThreadMs: 600 };
      await store().recordProgress(1, { bytes: 10, times }, at);
      await store().recordProgress(1, { bytes: 20, times: { ...times, elapsedMs: 2500 } }, at);
      expect((await store().get(1))?.progress).toMatchObject({ bytes: 20, times: { ...times, elapsedMs: 2500 } });
    });

    it('keeps the throughput series, each report replacing the last whole, up to its largest form', async () => {
      await store().create(sampleJob(1, { state: 'ACTIVE' }));
      await store().recordProgress(1, { bytes: 30, samples: [[1795600000, 0], [1795600001.5, 10], [1795600003, 30]] }, at);
      await store().recordProgress(1, { bytes: 40, samples: [[1795600000, 0], [1795600004, 40]] }, at);
      expect((await store().get(1))?.progress.samples).toEqual([[1795600000, 0], [1795600004, 40]]);
      // The most a job keeps (MAX_THROUGHPUT_SAMPLES points of the longest numbers) is one ordinary write.
      const largest = Array.from({ length: MAX_THROUGHPUT_SAMPLES }, (_, i): [number, number] => [1795600000.1 + i * 1000, Number.MAX_SAFE_INTEGER - i]);
      expect(await store().recordProgress(1, { samples: largest }, at)).toEqual({ recorded: true });
      expect((await store().get(1))?.progress).toMatchObject({ bytes: 40, samples: largest });
    });

    it('records nothing on a job that ended, and answers with its state and status (how the agent sees a cancel)', async () => {
      const job = sampleJob(1, { state: 'DONE', statusCode: 150 });
      await store().create(job);
      expect(await store().recordProgress(1, { files: 7 }, at)).toEqual({ recorded: false, state: 'DONE', statusCode: 150 });
      expect(await store().get(1)).toEqual(job);
    });

    it('records nothing on a QUEUED job, and answers with its state', async () => {
      await store().create(sampleJob(1, { state: 'QUEUED' }));
      expect(await store().recordProgress(1, { files: 7 }, at)).toEqual({ recorded: false, state: 'QUEUED' });
      expect((await store().get(1))?.progress.files).toBe(0);
    });

    it('answers "not recorded" without a state for a job that does not exist, and creates nothing', async () => {
      expect(await store().recordProgress(42, { files: 7 }, at)).toEqual({ recorded: false });
      expect(await store().get(42)).toBeUndefined();
    });

    it('neither loses nor is lost to updates running at the same time', async () => {
      await store().create(sampleJob(1, { state: 'ACTIVE' }));
      await Promise.all([
        ...Array.from({ length: 5 }, () => store().update(1, (job) => ({ ...job, attempt: job.attempt + 1 }))),
        ...Array.from({ length: 5 }, (_, i) => store().recordProgress(1, { bytes: 100 * (i + 1) }, at)),
      ]);
      const job = await store().get(1);
      expect(job?.attempt).toBe(6);
      expect(job?.progress.bytes).toBeGreaterThanOrEqual(100);
      // The next report lands on top of whatever the updates wrote.
      await store().recordProgress(1, { bytes: 999 }, at);
      await store().update(1, (j) => ({ ...j, attempt: j.attempt + 1 }));
      expect((await store().get(1))?.progress.bytes).toBe(999);
    });

    it('a report after the job ended does not bring back its old state', async () => {
      await store().create(sampleJob(1, { state: 'ACTIVE' }));
      await store().recordProgress(1, { files: 3 }, at);
      await store().update(1, (job) => ({ ...job, state: 'DONE', statusCode: 0 }));
      expect(await store().recordProgress(1, { files: 4 }, at)).toEqual({ recorded: false, state: 'DONE', statusCode: 0 });
      expect(await store().get(1)).toMatchObject({ state: 'DONE', statusCode: 0, progress: { files: 3 } });
    });
  });

  // recordUsage / usage: what the workflow's Lambdas count of themselves per job (docs/cost.md).
  // The DynamoDB adapter adds its own write (one request, one unit) to each record, so the
  // DynamoDB write counters are checked as "at least" here and exactly in test/aws/.
  describeContract('JobStore.recordUsage', adapter, open, skipReason, (store) => {
    const withoutOwnWrites = (usage: UsageCounters): Partial<UsageCounters> => {
      const { dynamoWriteRequests: _requests, dynamoWriteUnits: _units, ...rest } = usage;
      return rest;
    };

    it('reads all zeros for a job with nothing recorded', async () => {
      await store().create(sampleJob(1));
      expect(withoutOwnWrites(await store().usage(1))).toEqual(withoutOwnWrites(emptyUsage()));
      expect(await store().usage(1)).toMatchObject({ dynamoWriteRequests: 0, dynamoWriteUnits: 0 });
    });

    it('adds what each record brings, counter by counter, job by job', async () => {
      await store().create(sampleJob(1));
      await store().create(sampleJob(2));
      await store().recordUsage(1, { lambdaInvocations: 1, lambdaBilledMs: 120, lambdaArmMbMs: 120 * 512, dynamoReadUnits: 0.5, dynamoWriteRequests: 2, dynamoWriteUnits: 3 });
      await store().recordUsage(1, { lambdaInvocations: 1, lambdaBilledMs: 30, lambdaColdStarts: 1, dynamoReadUnits: 1 });
      await store().recordUsage(2, { s3Tier1Requests: 9 });
      const one = await store().usage(1);
      expect(withoutOwnWrites(one)).toEqual({ ...withoutOwnWrites(emptyUsage()), lambdaInvocations: 2, lambdaBilledMs: 150, lambdaArmMbMs: 61440, lambdaColdStarts: 1, dynamoReadUnits: 1.5 });
      expect(one.dynamoWriteRequests).toBeGreaterThanOrEqual(2);
      expect(one.dynamoWriteUnits).toBeGreaterThanOrEqual(3);
      expect((await store().usage(2)).s3Tier1Requests).toBe(9);
      expect((await store().usage(2)).lambdaInvocations).toBe(0);
    });

    it('loses nothing when many records arrive at once', async () => {
      await store().create(sampleJob(1));
      await Promise.all(Array.from({ length: 10 }, () => store().recordUsage(1, { lambdaInvocations: 1, s3BytesUp: 1000 })));
      expect(await store().usage(1)).toMatchObject({ lambdaInvocations: 10, s3BytesUp: 10_000 });
    });

    it('is kept apart from the job record: updates and progress neither lose it nor see it', async () => {
      const job = sampleJob(1, { state: 'ACTIVE' });
      await store().create(job);
      await store().recordUsage(1, { lambdaInvocations: 1 });
      await store().update(1, (j) => ({ ...j, attempt: 2 }));
      await store().recordProgress(1, { files: 3 }, new Date('2026-11-20T10:00:05.000Z'));
      await store().recordUsage(1, { lambdaInvocations: 1 });
      expect((await store().usage(1)).lambdaInvocations).toBe(2);
      expect(await store().get(1)).toEqual({ ...job, attempt: 2, progress: { ...job.progress, files: 3 }, updatedAt: '2026-11-20T10:00:05.000Z' });
    });

    it('refuses a negative or unknown counter and a job id that is not one, and records nothing', async () => {
      await store().create(sampleJob(1));
      await expect(store().recordUsage(1, { lambdaInvocations: 1, s3BytesUp: -5 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store().recordUsage(1, { bogus: 1 } as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(store().recordUsage(0, { lambdaInvocations: 1 })).rejects.toBeInstanceOf(ValidationError);
      expect((await store().usage(1)).lambdaInvocations).toBe(0);
    });

    it('keeps the agent\'s usage reported with its progress, each report replacing the last', async () => {
      await store().create(sampleJob(1, { state: 'ACTIVE' }));
      const at = new Date('2026-11-20T10:00:05.000Z');
      await store().recordProgress(1, { bytes: 10, usage: { ...emptyUsage(), s3Tier1Requests: 3, s3BytesUp: 10 } }, at);
      await store().recordProgress(1, { bytes: 20, usage: { ...emptyUsage(), s3Tier1Requests: 5, s3BytesUp: 20 } }, at);
      expect((await store().get(1))?.progress.usage).toEqual({ ...emptyUsage(), s3Tier1Requests: 5, s3BytesUp: 20 });
    });

    it('keeps the link between a multiple-data-streams parent and its streams, and loses no stream recorded at once', async () => {
      // Prepare: a parent and four streams naming it (core/jobs/data-streams.ts)
      await store().create(sampleJob(1, { state: 'ACTIVE', childJobIds: [], selections: ['ALL'] }));
      for (const id of [2, 3, 4, 5]) await store().create(sampleJob(id, { parentJobId: 1, selections: [`/fs${id}`] }));
      // Act: every stream adds itself to the parent at the same time
      await Promise.all([2, 3, 4, 5].map((id) => addChildJob(store(), 1, id, new Date('2026-12-03T10:00:00Z'))));
      // Assess
      const parent = await store().get(1);
      expect(parent?.type === 'backup' ? [...(parent.childJobIds ?? [])].sort() : undefined).toEqual([2, 3, 4, 5]);
      expect(await store().get(3)).toEqual(sampleJob(3, { parentJobId: 1, selections: ['/fs3'] }));
      const listed = await store().list();
      expect(listed.filter((j) => j.type === 'backup' && j.parentJobId === 1).map((j) => j.jobId).sort()).toEqual([2, 3, 4, 5]);
    });
  });
}
