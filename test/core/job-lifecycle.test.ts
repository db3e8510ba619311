import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { finishJob, queueBackupJob, statusFromFailure } from '#core/jobs/job-service.ts';
import { releaseResources, reserveResources } from '#core/broker/broker.ts';
import { CairnError } from '#core/errors.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { saveSetting, loadSettings } from '#core/settings.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { asKind } from '#core/model/job.ts';

describe('the job manager and the resource broker', () => {
  let rt: MemoryStores;
  const clock = new FakeClock('2026-11-23T02:00:00Z');
  beforeEach(async () => {
    rt = await withLocalDisk({ ...memoryStores(), clock });
    await rt.config.putPolicy(samplePolicy('nightly', { storageUnit: 'local-disk' }));
  });

  const statusOfRejection = async (promise: Promise<unknown>): Promise<number> => {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    return (error as CairnError).statusCode;
  };

  it('rejects requests it cannot run with the status an administrator expects, and queues nothing', async () => {
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'client1', policy: 'missing' }, clock.now()))).toBe(230);
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'stranger', policy: 'nightly' }, clock.now()))).toBe(230);
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'client1', policy: 'nightly', schedule: 'nope' }, clock.now()))).toBe(230);
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'client1' }, clock.now()))).toBe(20);
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'client1', selections: ['/x'], storageUnit: 'ghost' }, clock.now()))).toBe(219);
    expect(await statusOfRejection(queueBackupJob(rt, { client: '../etc', selections: ['/x'] }, clock.now()))).toBe(20);
    expect(await statusOfRejection(queueBackupJob(rt, { client: 'c', selections: ['relative/path'] }, clock.now()))).toBe(20);
    expect(await rt.jobs.list()).toEqual([]);
  });

  it('copies the policy onto the job, so later policy edits do not change it', async () => {
    const ref = await queueBackupJob(rt, { client: 'client1', policy: 'nightly' }, clock.now());
    await rt.config.putPolicy(samplePolicy('nightly', { selections: ['/changed'], storageUnit: 'local-disk' }));
    expect(await rt.jobs.get(ref.jobId)).toMatchObject({ state: 'QUEUED', selections: ['/home', '/etc'], retentionDays: 28, level: 'full', waitingReason: 'waiting for resources' });
  });

  it('grants a job ACTIVE with a backup id, idempotently; a second job of the client in that second waits for the next', async () => {
    const a = await queueBackupJob(rt, { client: 'client1', selections: ['/a'] }, clock.now());
    const b = await queueBackupJob(rt, { client: 'client1', selections: ['/b'] }, clock.now());
    const first = await reserveResources(rt, a.jobId, clock.now());
    const again = await reserveResources(rt, a.jobId, clock.now());
    const waiting = await reserveResources(rt, b.jobId, clock.now());
    if (!first.granted || !again.granted) throw new Error('expected grants');
    expect(again.command.task.backupId).toBe(first.command.task.backupId);
    expect(first.command.task.backupId).toBe('client1_1795399200');
    expect(waiting).toMatchObject({ granted: false, retryAfterSeconds: 1 });
    expect(await rt.jobs.get(b.jobId)).toMatchObject({ state: 'QUEUED', waitingReason: expect.stringMatching(/client1_1795399200 is taken/) });
    expect(asKind(await rt.jobs.get(b.jobId), 'backup')?.backupId).toBeUndefined();

    clock.advance(1000);
    const second = await reserveResources(rt, b.jobId, clock.now());

    if (!second.granted) throw new Error('expected a grant');
    expect(second.command.task.backupId).toBe('client1_1795399201');
    expect(await rt.jobs.get(b.jobId)).toMatchObject({ state: 'ACTIVE', startedAt: clock.now().toISOString() });
    expect((await rt.media.listReservations()).map((r) => r.jobId)).toEqual([a.jobId, b.jobId]);
    expect((await rt.catalog.listClaims()).map((c) => [c.backupId, c.jobId])).toEqual([
      ['client1_1795399200', a.jobId],
      ['client1_1795399201', b.jobId],
    ]);
  });

  it('keeps the status of a job that ended before the workflow finished it', async () => {
    const ref = await queueBackupJob(rt, { client: 'client1', selections: ['/a'] }, clock.now());
    await finishJob(rt.jobs, ref.jobId, { failure: { Error: 'Status150', Cause: 'cancelled by admin' } }, clock.now());
    expect(await finishJob(rt.jobs, ref.jobId, { statusCode: 0 }, clock.now())).toEqual({ jobId: ref.jobId, statusCode: 150 });
    expect(await statusOfRejection(reserveResources(rt, ref.jobId, clock.now()))).toBe(150);
    expect(await releaseResources(rt, ref.jobId)).toEqual({ released: false });
  });

  it('maps workflow errors to status codes', () => {
    expect(statusFromFailure({ Error: 'Status84' })).toBe(84);
    expect(statusFromFailure({ Error: 'States.HeartbeatTimeout' })).toBe(41);
    expect(statusFromFailure({ Error: 'States.Timeout' })).toBe(41);
    expect(statusFromFailure({ Error: 'States.TaskFailed' })).toBe(50);
    expect(statusFromFailure({ Error: 'TypeError' })).toBe(2000);
  });

  it('validates a setting before storing it and names what was wrong', async () => {
    await saveSetting(rt.config, 'resourceRetrySeconds', 5);
    expect((await loadSettings(rt.config)).resourceRetrySeconds).toBe(5);
    await expect(saveSetting(rt.config, 'resourceRetrySeconds', -1)).rejects.toThrow(/setting resourceRetrySeconds/);
    await expect(saveSetting(rt.config, 'noSuchSetting', 1)).rejects.toThrow(/unknown setting: noSuchSetting: not a setting/);
    expect((await loadSettings(rt.config)).resourceRetrySeconds).toBe(5);
  });
});
