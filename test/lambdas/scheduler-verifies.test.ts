import { describe, expect, it } from 'vitest';
import { Policy } from '#core/model/policy.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';

/** A Tuesday inside the policy's 02:00–06:00 UTC verify window; its backup window (Saturday night) is closed. */
const NOW = '2026-11-03T03:00:00.000Z';

describe('the scheduler Lambda and scheduled verifies', () => {
  it('starts each due verify as a verify-job execution named from the image and due instant, once however often it ticks', async () => {
    const stores = memoryStores(NOW);
    const policy = Policy.parse({ ...samplePolicy('daily-home'), verify: { frequency: '1d', windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '02:00', duration: 4 * 3600 }] } });
    await stores.config.putPolicy(policy);
    const image = sampleImage('client1', new Date('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
    expect(await stores.catalog.claimBackupId({ backupId: image.backupId, jobId: 1, client: 'client1', storageUnit: 'disk1', claimedAt: image.createdAt })).toBe(true);
    await stores.catalog.putImage(image);
    const backups = new MemoryExecutionStarter();
    const verifies = new MemoryExecutionStarter();
    const tick = createSchedulerHandler({ ...stores, starter: backups, verifies });

    const first = await tick({});
    const second = await tick({});

    expect(first.verifies?.started).toHaveLength(1);
    expect(first.verifies?.problems).toEqual([]);
    expect(second.verifies).toEqual({ started: [], alreadyStarted: first.verifies!.started, problems: [] });
    expect(backups.executions.calls).toEqual([]);
    expect([...verifies.executions.started.values()]).toEqual([{ request: { backupId: image.backupId, policy: 'daily-home', schedule: 'verify', executionName: first.verifies!.started[0] } }]);
  });

  it('starts a due restore rehearsal on the verify-job state machine too, once, with the rehearsal request', async () => {
    const stores = memoryStores(NOW);
    const windows = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '02:00', duration: 4 * 3600 }];
    await stores.config.putPolicy(Policy.parse({ ...samplePolicy('daily-home'), rehearsal: { frequency: '1w', windows, sample: 'all' } }));
    const image = sampleImage('client1', new Date('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
    expect(await stores.catalog.claimBackupId({ backupId: image.backupId, jobId: 1, client: 'client1', storageUnit: 'disk1', claimedAt: image.createdAt })).toBe(true);
    await stores.catalog.putImage(image);
    const verifies = new MemoryExecutionStarter();
    const tick = createSchedulerHandler({ ...stores, starter: new MemoryExecutionStarter(), verifies });

    const first = await tick({});
    const second = await tick({});

    expect(first.verifies?.started).toEqual([expect.stringContaining('.rehearsal-')]);
    expect(second.verifies).toEqual({ started: [], alreadyStarted: first.verifies!.started, problems: [] });
    expect([...verifies.executions.started.values()]).toEqual([{ request: { backupId: image.backupId, policy: 'daily-home', schedule: 'rehearsal', executionName: first.verifies!.started[0], rehearsal: {} } }]);
  });
});
