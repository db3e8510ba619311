import { describe, expect, it } from 'vitest';
import { parentOutcome, streamExecutionName, streamLimit, streamSelections, startParentJob, endParentJob, addChildJob } from '#core/jobs/data-streams.ts';
import { Policy } from '#core/model/policy.ts';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { samplePolicy, sampleStorageUnit } from '../contracts/fixtures.ts';
import type { BackupJob } from '#core/model/job.ts';

const ended = (jobId: number, statusCode: number, selection = `/fs${jobId}`): Pick<BackupJob, 'jobId' | 'state' | 'statusCode' | 'selections'> => ({ jobId, state: 'DONE', statusCode, selections: [selection] });

describe('the streams of a multiple-data-streams job', () => {
  it('are one per selection, and one per local file system for ALL, in order and each once', () => {
    expect(streamSelections(['/etc', 'ALL', '/'], ['/', '/boot', '/home'])).toEqual(['/etc', '/', '/boot', '/home']);
    expect(streamSelections(['/a', '/b'], undefined)).toEqual(['/a', '/b']);
  });
  it('are none at all when ALL finds no local file system: status 71', () => {
    expect(() => streamSelections(['ALL'], [])).toThrow(expect.objectContaining({ statusCode: 71 }));
  });
  it('need the probe for ALL', () => {
    expect(() => streamSelections(['ALL'], undefined)).toThrow(/none were probed/);
  });
});

describe('how many streams run at once', () => {
  it('is the lower of the policy and client limits, and says which', () => {
    expect(streamLimit({ maxJobsPerPolicy: 3 }, { maxJobsPerClient: 2 }, 5)).toEqual({ limit: 2, why: 'maxJobsPerClient 2' });
    expect(streamLimit({ maxJobsPerPolicy: 1 }, { maxJobsPerClient: 2 }, 5)).toEqual({ limit: 1, why: 'maxJobsPerPolicy 1' });
  });
  it('is every stream when no limit is set, or when the limits allow all', () => {
    expect(streamLimit({}, {}, 4)).toEqual({ limit: 4, why: 'no job limit set' });
    expect(streamLimit({ maxJobsPerPolicy: 8 }, {}, 3)).toEqual({ limit: 3, why: 'maxJobsPerPolicy 8 allows all 3' });
  });
});

describe("the parent's status", () => {
  it('is 0 when every stream ended 0', () => {
    expect(parentOutcome([ended(2, 0), ended(3, 0)])).toEqual({ statusCode: 0 });
  });
  it('is 1 when every stream ended 0 or 1 and one ended 1, naming it', () => {
    expect(parentOutcome([ended(2, 0), ended(3, 1)])).toEqual({ statusCode: 1, error: '1 of 2 streams partially successful: job 3 (/fs3): status 1' });
  });
  it('is the status of the first failed stream when one failed, even if the others succeeded', () => {
    const outcome = parentOutcome([ended(4, 84), ended(2, 0), ended(3, 71), ended(5, 1)]);
    expect(outcome).toEqual({ statusCode: 71, error: '2 of 4 streams failed: job 3 (/fs3): status 71; job 4 (/fs4): status 84' });
  });
  it('cannot be decided while a stream runs', () => {
    expect(() => parentOutcome([ended(2, 0), { jobId: 3, state: 'ACTIVE', selections: ['/x'] }])).toThrow(/streams 3 run/);
  });
});

describe('stream execution names', () => {
  it('are the parent name with .sN, at most 80 characters and distinct', () => {
    expect(streamExecutionName('nightly.host1.full.1795399200', 2)).toBe('nightly.host1.full.1795399200.s2');
    const long = `${'p'.repeat(60)}.client.full.1795399200`;
    const [a, b] = [streamExecutionName(long, 1), streamExecutionName(long, 2)];
    expect(a.length).toBeLessThanOrEqual(80);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe('the parent job in a job store', () => {
  it('is ACTIVE from the start, lists its streams and ends with the worst of them', async () => {
    const jobs = new MemoryJobStore();
    const config = { getPolicy: async () => Policy.parse(samplePolicy('p', { selections: ['ALL'], multipleDataStreams: true, storageUnit: 'disk1' })), getStorageUnit: async () => sampleStorageUnit('disk1'), getSetting: async () => undefined };
    const at = new Date('2026-12-03T10:00:00Z');
    const parent = await startParentJob({ jobs, config: config as never }, { client: samplePolicy().clients[0]!.name, policy: 'p' }, at);
    expect(parent).toMatchObject({ state: 'ACTIVE', selections: ['ALL'], childJobIds: [], startedAt: at.toISOString() });
    for (const [id, status] of [[2, 0], [3, 1]] as const) {
      await jobs.create({ ...parent, jobId: id, childJobIds: undefined, parentJobId: parent.jobId, state: 'DONE', statusCode: status, executionName: undefined });
      await addChildJob(jobs, parent.jobId, id, at);
    }
    const done = await endParentJob(jobs, parent.jobId, at);
    expect(done).toMatchObject({ state: 'DONE', statusCode: 1, childJobIds: [2, 3] });
    // Idempotent: ending it again changes nothing.
    expect(await endParentJob(jobs, parent.jobId, new Date('2026-12-03T11:00:00Z'))).toEqual(done);
  });
});
