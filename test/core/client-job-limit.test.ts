import { describe, expect, it } from 'vitest';
import { reserveResources } from '#core/broker/broker.ts';
import { finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { MemoryConfigStore } from '#test/memory/memory-config-store.ts';
import { MemoryMediaStore } from '#test/memory/memory-media-store.ts';
import { MemoryCatalogStore } from '#test/memory/memory-catalog-store.ts';
import { sampleStorageUnit } from '../contracts/fixtures.ts';

async function broker(maxJobsPerClient?: number) {
  const deps = { config: new MemoryConfigStore(), jobs: new MemoryJobStore(), media: new MemoryMediaStore(), catalog: new MemoryCatalogStore() };
  await deps.config.putStorageUnit({ ...sampleStorageUnit('disk1'), maxConcurrentJobs: 10 });
  if (maxJobsPerClient !== undefined) await deps.config.putSetting('maxJobsPerClient', maxJobsPerClient);
  return deps;
}

describe('maximum jobs per client in the broker', () => {
  const at = new Date('2026-12-03T10:00:00Z');
  const later = new Date('2026-12-03T10:00:05Z');

  it('keeps a backup of a client that runs its limit of backups queued, saying why, and grants it once one has ended', async () => {
    const deps = await broker(1);
    const first = await queueBackupJob(deps, { client: 'c1', selections: ['/a'], storageUnit: 'disk1' }, at);
    const second = await queueBackupJob(deps, { client: 'c1', selections: ['/b'], storageUnit: 'disk1' }, at);
    const other = await queueBackupJob(deps, { client: 'c2', selections: ['/c'], storageUnit: 'disk1' }, at);
    expect((await reserveResources(deps, first.jobId, at)).granted).toBe(true);
    const refused = await reserveResources(deps, second.jobId, at);
    expect(refused).toMatchObject({ granted: false, reason: `waiting for a client job slot: client c1 runs 1 backup jobs (${first.jobId}), maxJobsPerClient is 1` });
    expect((await deps.jobs.get(second.jobId))?.waitingReason).toBe(refused.granted ? undefined : refused.reason);
    // Another client is not held back.
    expect((await reserveResources(deps, other.jobId, at)).granted).toBe(true);
    await finishJob(deps.jobs, first.jobId, { statusCode: 0 }, later);
    expect((await reserveResources(deps, second.jobId, later)).granted).toBe(true);
  });

  it('holds nothing back when the setting is unset', async () => {
    const deps = await broker();
    const jobs = await Promise.all(['/a', '/b', '/c'].map((p) => queueBackupJob(deps, { client: 'c1', selections: [p], storageUnit: 'disk1' }, at)));
    const decisions = [];
    for (const [i, job] of jobs.entries()) decisions.push((await reserveResources(deps, job.jobId, new Date(at.getTime() + i * 1000))).granted);
    expect(decisions).toEqual([true, true, true]);
  });

  it('does not count a multiple-data-streams parent, which runs nothing itself', async () => {
    const deps = await broker(1);
    const parent = await queueBackupJob(deps, { client: 'c1', selections: ['/a', '/b'], storageUnit: 'disk1' }, at);
    await deps.jobs.update(parent.jobId, (j) => ({ ...j, state: 'ACTIVE', childJobIds: [] }));
    const stream = await queueBackupJob(deps, { client: 'c1', selections: ['/a'], storageUnit: 'disk1', parentJobId: parent.jobId }, at);
    expect((await reserveResources(deps, stream.jobId, at)).granted).toBe(true);
  });
});
