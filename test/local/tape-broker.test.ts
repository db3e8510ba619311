import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources, releaseResources, type BrokerDeps } from '#core/broker/broker.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { CairnError } from '#core/errors.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import { tempDir } from '../edge-agent/helpers.ts';
import { reserveNextVolume } from '#core/broker/next-volume.ts';
import { asKind } from '#core/model/job.ts';
import type { VolumeFullOutcome } from '#core/model/tape-task.ts';

/** The broker's tape choice on the standalone runtime's SQLite stores (reservations and media manager). */
describe('the broker for a tape storage unit', () => {
  let runtime: LocalRuntime;
  let cleanup: () => void;
  const clock = new FakeClock('2026-12-03T04:00:00Z');

  beforeEach(async () => {
    const dir = tempDir('tape-broker');
    cleanup = dir.cleanup;
    runtime = await openLocalRuntime({ home: join(dir.dir, 'home'), clock });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg9' } }, clock.now());
    await emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: '/dev/nst0', blockSize: 65536 });
    await emm.addDrive({ name: 'd1', robot: 'lib1', index: 1, path: '/dev/nst1', blockSize: 65536 });
    await emm.addPool({ name: 'daily' });
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'idx', kind: 'disk', path: join(dir.dir, 'index') } }));
  });
  afterEach(() => {
    runtime.close();
    cleanup();
  });

  const queue = (client: string, windowEnd?: string) => queueBackupJob(runtime, { client, selections: ['/data'], storageUnit: 'tape1', ...(windowEnd ? { windowEnd } : {}) }, clock.now());

  it('reserves the slot, a drive and a scratch volume in one step, moves the volume into the pool once granted, and hands Mount and Unmount their commands', async () => {
    await runtime.emm.addMedia(newMedia('CRN002', clock.now(), { robot: 'lib1', slot: 2 }));
    await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
    const job = await queue('host1');
    const decision = await reserveResources(runtime, job.jobId, clock.now());
    if (!decision.granted) throw new Error(decision.reason);
    expect((await runtime.media.listReservations()).map((r) => ({ kind: r.kind, ...(r.kind === 'drive' ? { drive: r.drive } : r.kind === 'volume' ? { mediaId: r.mediaId } : {}) }))).toEqual(
      expect.arrayContaining([{ kind: 'drive', drive: 'd0' }, { kind: 'volume', mediaId: 'CRN001' }, { kind: 'storage-unit-slot' }]),
    );
    expect(decision.command.task.tape).toEqual({
      drive: { name: 'd0', index: 0, path: '/dev/nst0', blockSize: 65536 },
      volume: { mediaId: 'CRN001', slot: 1, pool: 'daily', appendFile: 1, label: true },
      // The media mount timeout (1800 s by default) and an hour for the Mount: how long the agent waits for a next volume.
      spanWaitSeconds: 5400,
    });
    expect(asKind(await runtime.jobs.get(job.jobId), 'backup')?.volumes).toEqual(['CRN001']);
    expect(decision.tape?.mount).toMatchObject({ kind: 'mount', task: { jobId: job.jobId, robot: { name: 'lib1', changer: { type: 'mtx', device: '/dev/sg9' } } } });
    expect(decision.tape?.afterSuccess.task.keepLoaded).toBe(true);
    expect(decision.tape?.afterFailure.task.keepLoaded).toBe(false);
    expect((await runtime.emm.getMedia('CRN001'))?.pool).toBe('daily');
    expect((await runtime.emm.getMedia('CRN002'))?.pool).toBe('scratch');
    // A retried Reserve is granted the same drive and volume.
    const again = await reserveResources(runtime, job.jobId, clock.now());
    expect(again.granted && again.command.task.tape).toEqual(decision.command.task.tape);
  });

  it('waits with a precise reason when the pool has no writable volume and scratch is empty; the job ends 96 when its window closes', async () => {
    const full = { ...newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1, pool: 'daily' }), state: 'FULL' as const };
    await runtime.emm.addMedia(full);
    const job = await queue('host1', '2026-12-03T04:10:00Z');
    const decision = await reserveResources(runtime, job.jobId, clock.now());
    expect(decision).toMatchObject({ granted: false, reason: 'waiting for volume: pool daily has no writable volume in robot lib1 and scratch is empty (1 FULL)' });
    expect((await runtime.jobs.get(job.jobId))?.waitingReason).toBe('waiting for volume: pool daily has no writable volume in robot lib1 and scratch is empty (1 FULL)');
    expect(await runtime.media.listReservations()).toEqual([]);
    clock.advance(11 * 60 * 1000);
    const error = await reserveResources(runtime, job.jobId, clock.now()).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).statusCode).toBe(96);
  });

  it('chooses again after losing the race for a drive: the store refuses, the job waits, the next try takes the other drive', async () => {
    await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
    await runtime.emm.addMedia(newMedia('CRN002', clock.now(), { robot: 'lib1', slot: 2 }));
    // Another job takes d0 and CRN003 between this job's look at the reservations and its reserve.
    await runtime.emm.addMedia(newMedia('CRN003', clock.now(), { robot: 'lib1', slot: 3 }));
    let stale = true;
    const media: MediaStore = {
      reserve: (request) => runtime.media.reserve(request),
      release: (jobId) => runtime.media.release(jobId),
      exchangeVolume: (exchange) => runtime.media.exchangeVolume(exchange),
      listReservations: async (unit) => {
        const now = await runtime.media.listReservations(unit);
        if (!stale) return now;
        stale = false;
        await runtime.media.reserve({ jobId: 999, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd0' }, { kind: 'volume', pool: 'daily', mediaId: 'CRN003' }], at: clock.now() });
        return now;
      },
    };
    const deps: BrokerDeps = { ...runtime, media };
    const job = await queue('host1');
    const lost = await reserveResources(deps, job.jobId, clock.now());
    expect(lost).toMatchObject({ granted: false, reason: 'waiting for drive: drive d0 is held by job 999' });
    // Nothing moved into the pool for a refused job.
    expect((await runtime.emm.getMedia('CRN001'))?.pool).toBe('scratch');
    const next = await reserveResources(deps, job.jobId, clock.now());
    if (!next.granted) throw new Error(next.reason);
    expect(next.command.task.tape?.drive.name).toBe('d1');
    expect(next.command.task.tape?.volume.mediaId).toBe('CRN001');
  });

  it('records at Release whether the drive keeps its volume, and marks the volume FULL after a job that failed with 96', async () => {
    await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
    const ok = await queue('host1');
    expect((await reserveResources(runtime, ok.jobId, clock.now())).granted).toBe(true);
    await releaseResources(runtime, ok.jobId, { now: clock.now(), outcome: { statusCode: 0 } });
    expect((await runtime.emm.getDrive('d0'))?.loaded?.mediaId).toBe('CRN001');
    expect((await runtime.emm.getMedia('CRN001'))?.mountCount).toBe(1);

    clock.advance(1000);
    const failed = await queue('host2');
    const granted = await reserveResources(runtime, failed.jobId, clock.now());
    expect(granted.granted && granted.command.task.tape?.drive.name).toBe('d0');
    await releaseResources(runtime, failed.jobId, { now: clock.now(), outcome: { failure: { Error: 'Status96', Cause: 'volume CRN001 in drive d0 reached end of media' } } });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    expect(await runtime.emm.getMedia('CRN001')).toMatchObject({ state: 'FULL', mountCount: 1 });
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  describe('at end of media (spanning)', () => {
    const full = (jobId: number, mediaId: string): VolumeFullOutcome => ({ outcome: 'volume-full', jobId, waiter: 'w-1', mediaId, drive: 'd0', fragments: 3, bytes: 123, appendFile: 4, fullAt: clock.now().toISOString() });
    const granted = async (windowEnd?: string) => {
      const job = await queue('host1', windowEnd);
      const decision = await reserveResources(runtime, job.jobId, clock.now());
      if (!decision.granted) throw new Error(decision.reason);
      return job.jobId;
    };

    it('records the full volume FULL and exchanges it for the next one in the same drive, handing Mount, Unmount and Continue their commands; a retried step changes nothing more', async () => {
      await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
      await runtime.emm.addMedia(newMedia('CRN002', clock.now(), { robot: 'lib1', slot: 2 }));
      const jobId = await granted();
      const next = await reserveNextVolume(runtime, jobId, full(jobId, 'CRN001'), clock.now());
      if (!next.granted) throw new Error(next.reason);
      expect(next.mediaId).toBe('CRN002');
      expect(await runtime.emm.getMedia('CRN001')).toMatchObject({ state: 'FULL', mountCount: 1 });
      expect(await runtime.emm.getMedia('CRN002')).toMatchObject({ pool: 'daily', state: 'UNASSIGNED' });
      const held = (await runtime.media.listReservations()).map((r) => (r.kind === 'drive' ? r.drive : r.kind === 'volume' ? r.mediaId : r.kind));
      expect(held.sort()).toEqual(['CRN002', 'd0', 'storage-unit-slot']);
      expect(next.tape.mount.task).toMatchObject({ jobId, drive: { name: 'd0' }, volume: { mediaId: 'CRN002', slot: 2, label: true, appendFile: 1 } });
      expect(next.tape.afterSuccess.task).toMatchObject({ mediaId: 'CRN002', slot: 2, keepLoaded: true });
      expect(next.tape.afterFailure.task).toMatchObject({ mediaId: 'CRN002', slot: 2, keepLoaded: false });
      expect(next.continue).toEqual({ kind: 'continue-backup', task: { jobId, waiter: 'w-1', tape: { drive: next.tape.mount.task.drive, volume: next.tape.mount.task.volume, spanWaitSeconds: 5400 } } });
      expect(asKind(await runtime.jobs.get(jobId), 'backup')?.volumes).toEqual(['CRN001', 'CRN002']);

      const again = await reserveNextVolume(runtime, jobId, full(jobId, 'CRN001'), clock.now());
      expect(again).toEqual(next);
      expect(asKind(await runtime.jobs.get(jobId), 'backup')?.volumes).toEqual(['CRN001', 'CRN002']);
      expect((await runtime.emm.getMedia('CRN001'))?.mountCount).toBe(1);
    });

    it('never takes a volume held by another job or loaded in another drive', async () => {
      await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
      await runtime.emm.addMedia(newMedia('CRN002', clock.now(), { robot: 'lib1', slot: 2 }));
      await runtime.emm.addMedia(newMedia('CRN003', clock.now(), { robot: 'lib1', slot: 3 }));
      const jobId = await granted();
      // CRN002 sits in d1, kept loaded after an earlier job: the robot cannot load it into d0 from its slot.
      await runtime.emm.label('CRN002', 'daily');
      await runtime.emm.setDriveLoaded('d1', 'CRN002', clock.now());
      const next = await reserveNextVolume(runtime, jobId, full(jobId, 'CRN001'), clock.now());
      expect(next.granted && next.mediaId).toBe('CRN003');
    });

    it('waits with a precise reason while the pool has no writable volume, and fails with 96 once the media mount timeout is over', async () => {
      await runtime.emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1 }));
      await runtime.config.putSetting('mediaMountTimeoutSeconds', 600);
      const jobId = await granted();
      const outcome = full(jobId, 'CRN001');
      const waiting = await reserveNextVolume(runtime, jobId, outcome, clock.now());
      expect(waiting).toEqual({ granted: false, reason: 'waiting for volume: pool daily has no writable volume in robot lib1 and scratch is empty (1 FULL) (volume CRN001 is full)', retryAfterSeconds: 30 });
      expect(await runtime.jobs.get(jobId)).toMatchObject({ state: 'ACTIVE', waitingReason: waiting.granted ? undefined : waiting.reason });
      clock.advance(590 * 1000);
      const late = await reserveNextVolume(runtime, jobId, outcome, clock.now());
      expect(late.granted ? 0 : late.retryAfterSeconds).toBe(10);
      clock.advance(10 * 1000);
      const error = await reserveNextVolume(runtime, jobId, outcome, clock.now()).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(96);
      expect((error as CairnError).message).toMatch(/volume CRN001 is full and the media mount timeout \(600 s\) passed with no next volume/);
    });
  });
});
