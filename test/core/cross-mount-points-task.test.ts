import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

describe('the policy option crossMountPoints on its way to the agent', () => {
  let rt: MemoryStores;
  const clock = new FakeClock('2026-11-23T02:00:00Z');
  beforeEach(async () => {
    rt = await withLocalDisk({ ...memoryStores(), clock });
  });

  const taskOf = async (policy: string): Promise<Record<string, unknown>> => {
    const ref = await queueBackupJob(rt, { client: 'client1', policy }, clock.now());
    const grant = await reserveResources(rt, ref.jobId, clock.now());
    if (!grant.granted || grant.command.kind !== 'backup') throw new Error('expected a backup grant');
    return grant.command.task as Record<string, unknown>;
  };

  it('reaches the backup task when the policy crosses mount points', async () => {
    await rt.config.putPolicy(samplePolicy('crossing', { storageUnit: 'local-disk', crossMountPoints: true }));
    expect((await taskOf('crossing')).crossMountPoints).toBe(true);
  });

  it('is absent from the task (the agent stays on each selection’s file system) by default', async () => {
    await rt.config.putPolicy(samplePolicy('staying', { storageUnit: 'local-disk' }));
    expect((await taskOf('staying')).crossMountPoints).toBeUndefined();
  });
});
