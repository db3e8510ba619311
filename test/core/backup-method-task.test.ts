import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { offhostDetail } from '#core/catalog/catalog-service.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

describe('the policy option backupMethod on its way to the agent', () => {
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

  it('reaches the backup task when the policy is offhost', async () => {
    await rt.config.putPolicy(samplePolicy('offhost', { storageUnit: 'local-disk', backupMethod: 'offhost' }));
    expect((await taskOf('offhost')).backupMethod).toBe('offhost');
  });

  it('is absent from the task (a file-level backup) for file', async () => {
    await rt.config.putPolicy(samplePolicy('files', { storageUnit: 'local-disk', backupMethod: 'file' }));
    expect((await taskOf('files')).backupMethod).toBeUndefined();
  });

  it('is absent from the task by default', async () => {
    await rt.config.putPolicy(samplePolicy('plain', { storageUnit: 'local-disk' }));
    expect((await taskOf('plain')).backupMethod).toBeUndefined();
  });

  it('says in one detail line how many files fell back to a file read, by reason', () => {
    expect(offhostDetail({ deviceFiles: 41, fallbackFiles: 3, fallbackReasons: { inline: 2, shared: 1 }, deviceBytesRead: 8192, deviceReads: 5 })).toBe(
      'offhost: 41 files read from the device (8192 bytes in 5 reads), 3 fell back to a file read (inline 2, shared 1)',
    );
  });
});
