import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { claimAndCommit, samplePolicy, sampleImage } from '../contracts/fixtures.ts';

describe('the base an incremental is taken against', () => {
  let rt: MemoryStores;
  const clock = new FakeClock('2026-11-23T02:00:00Z');
  beforeEach(async () => {
    rt = await withLocalDisk({ ...memoryStores(), clock });
    await rt.config.putPolicy(
      samplePolicy('p', {
        storageUnit: 'local-disk',
        clients: [{ name: 'c1', priority: 1 }],
        schedules: [
          { name: 'full', type: 'full', retention: { days: 7 }, windows: [] },
          { name: 'diff', type: 'differential-incremental', retention: { days: 7 }, windows: [] },
          { name: 'cum', type: 'cumulative-incremental', retention: { days: 7 }, windows: [] },
        ],
      }),
    );
  });

  const baseFor = async (schedule: string): Promise<{ level: string; base?: string }> => {
    const ref = await queueBackupJob(rt, { client: 'c1', policy: 'p', schedule }, clock.now());
    const decision = await reserveResources(rt, ref.jobId, clock.now());
    if (!decision.granted) throw new Error('not granted');
    await rt.media.release(ref.jobId);
    // Each job takes the backup id of its second.
    clock.advance(1000);
    return { level: decision.command.task.level, base: decision.command.task.base?.backupId };
  };

  it('runs an incremental as a full when there is no full to build on', async () => {
    expect(await baseFor('diff')).toEqual({ level: 'full', base: undefined });
    expect(await baseFor('cum')).toEqual({ level: 'full', base: undefined });
  });

  it('takes a differential against the last backup of any level and a cumulative against the last full', async () => {
    await claimAndCommit(rt.catalog, sampleImage('c1', new Date('2026-11-20T01:00:00Z'), { policy: 'p', schedule: 'full', level: 'full', storageUnit: 'local-disk' }));
    await claimAndCommit(rt.catalog, sampleImage('c1', new Date('2026-11-21T01:00:00Z'), { policy: 'p', schedule: 'diff', level: 'differential-incremental', storageUnit: 'local-disk' }));
    await claimAndCommit(rt.catalog, sampleImage('c1', new Date('2026-11-22T01:00:00Z'), { policy: 'p', schedule: 'diff', level: 'differential-incremental', storageUnit: 'local-disk', statusCode: 84 }));
    expect(await baseFor('diff')).toEqual({ level: 'differential-incremental', base: 'c1_1795222800' });
    expect(await baseFor('cum')).toEqual({ level: 'cumulative-incremental', base: 'c1_1795136400' });
  });
});
