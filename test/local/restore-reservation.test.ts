import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { planRestoreJob, queueRestoreJob, recordVolumeRead, volumesOf } from '#core/jobs/restore-job.ts';
import { reserveRestoreVolume } from '#core/broker/restore-reservation.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { asKind } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { CairnError } from '#core/errors.ts';
import { claimAndCommit, sampleImage } from '../contracts/fixtures.ts';
import { tempDir } from '../edge-agent/helpers.ts';

const clock = new FakeClock('2026-12-03T04:00:00Z');

/** An image of host1 on tape unit tape1: fragments 1–2 on CRN001, 3 on CRN002. */
function tapeImage(): Image {
  const image = sampleImage('host1', new Date('2026-12-02T04:00:00Z'), { storageUnit: 'tape1' });
  const tape = (number: number, mediaId: string, fileNumber: number) => ({ number, bytes: 65536, sha256: 'a'.repeat(64), location: { kind: 'tape' as const, mediaId, fileNumber, blockOffset: fileNumber * 3 } });
  return { ...image, copies: [{ ...image.copies[0]!, fragments: [tape(1, 'CRN001', 1), tape(2, 'CRN001', 2), tape(3, 'CRN002', 1)] }] };
}

/** The restore job's Queue, Plan, Reserve and RecordRead on the standalone runtime's SQLite stores, without a library. */
describe('a tape restore job\'s plan and reservations', () => {
  let runtime: LocalRuntime;
  let cleanup: () => void;
  let image: Image;

  beforeEach(async () => {
    const dir = tempDir('restore-reservation');
    cleanup = dir.cleanup;
    runtime = await openLocalRuntime({ home: join(dir.dir, 'home'), clock });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg9' } }, clock.now());
    await emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: '/dev/nst0', blockSize: 65536 });
    await emm.addDrive({ name: 'd1', robot: 'lib1', index: 1, path: '/dev/nst1', blockSize: 65536 });
    await emm.addPool({ name: 'daily' });
    await emm.addMedia(newMedia('CRN001', clock.now(), { robot: 'lib1', slot: 1, pool: 'daily' }));
    await emm.addMedia(newMedia('CRN002', clock.now(), { robot: 'lib1', slot: 2, pool: 'daily' }));
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'idx', kind: 'disk', path: join(dir.dir, 'index') } }));
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(dir.dir, 'disk') }));
    await runtime.config.putSetting('resourceRetrySeconds', 5);
    image = tapeImage();
    await claimAndCommit(runtime.catalog, image);
  });
  afterEach(() => {
    runtime.close();
    cleanup();
  });

  const queued = async (): Promise<number> => {
    const ref = await queueRestoreJob(runtime, { backupId: image.backupId, targetDir: '/restore', paths: ['/home'] }, clock.now());
    await planRestoreJob(runtime, ref.jobId, clock.now());
    return ref.jobId;
  };

  it('plans the volumes in the order of the fragments, each with its fragments, and records them on the job', async () => {
    expect(volumesOf(image)).toEqual([
      { mediaId: 'CRN001', fragments: [1, 2], read: false },
      { mediaId: 'CRN002', fragments: [3], read: false },
    ]);
    const jobId = await queued();
    const job = asKind(await runtime.jobs.get(jobId), 'restore');
    expect(job).toMatchObject({ state: 'QUEUED', client: 'host1', source: { backupId: image.backupId }, target: { client: 'host1', directory: '/restore', existing: 'refuse' }, paths: ['/home'], storageUnit: 'tape1' });
    expect(job?.volumes.map((v) => v.mediaId)).toEqual(['CRN001', 'CRN002']);
  });

  it('refuses an unknown image (227) and an image on disk (20), queueing nothing', async () => {
    const onDisk = sampleImage('host2', new Date('2026-12-02T05:00:00Z'));
    await claimAndCommit(runtime.catalog, onDisk);
    await expect(queueRestoreJob(runtime, { backupId: 'nohost_1', targetDir: '/r' }, clock.now())).rejects.toMatchObject({ statusCode: 227 });
    await expect(queueRestoreJob(runtime, { backupId: onDisk.backupId, targetDir: '/r' }, clock.now())).rejects.toMatchObject({ statusCode: 20, message: expect.stringMatching(/is on disk unit disk1/) });
    expect(await runtime.jobs.list({})).toEqual([]);
  });

  it('reserves a drive with the volume in one step, turns the job ACTIVE, and hands Mount (never labelling) and Read their commands', async () => {
    const jobId = await queued();
    const decision = await reserveRestoreVolume(runtime, jobId, 0, clock.now());
    if (!decision.granted) throw new Error(decision.reason);
    expect(await runtime.media.listReservations()).toEqual([
      expect.objectContaining({ jobId, kind: 'drive', drive: 'd0' }),
      expect.objectContaining({ jobId, kind: 'volume', mediaId: 'CRN001' }),
    ]);
    expect(decision.tape.mount.task.volume).toMatchObject({ mediaId: 'CRN001', slot: 1, label: false });
    expect(decision.read.task.tape).toEqual({ drive: { name: 'd0', index: 0, path: '/dev/nst0', blockSize: 65536 }, mediaId: 'CRN001', volume: 1, volumes: 2, fragments: [1, 2] });
    expect(decision.read.task.images[0]?.image.backupId).toBe(image.backupId);
    expect(await runtime.jobs.get(jobId)).toMatchObject({ state: 'ACTIVE', startedAt: clock.now().toISOString() });
    // A retried step keeps what it holds.
    const again = await reserveRestoreVolume(runtime, jobId, 0, clock.now());
    expect(again.granted && again.read.task.tape?.drive.name).toBe('d0');
  });

  it('waits with the precise reason while the drives are busy, a drive is DOWN, or another job holds the volume', async () => {
    const jobId = await queued();
    await runtime.media.reserve({ jobId: 900, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd0' }, { kind: 'drive', storageUnit: 'tape1', drive: 'd1' }], at: clock.now() });
    const busy = await reserveRestoreVolume(runtime, jobId, 0, clock.now());
    expect(busy).toEqual({ granted: false, reason: 'waiting for drive: all 2 drives busy', retryAfterSeconds: 5 });
    expect(await runtime.jobs.get(jobId)).toMatchObject({ state: 'QUEUED', waitingReason: 'waiting for drive: all 2 drives busy' });

    await runtime.media.release(900);
    await runtime.emm.setDriveState('d0', 'DOWN', 'cleaning');
    await runtime.media.reserve({ jobId: 901, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd1' }], at: clock.now() });
    expect(await reserveRestoreVolume(runtime, jobId, 0, clock.now())).toMatchObject({ granted: false, reason: 'waiting for drive: drive d0 is DOWN (cleaning), drive d1 is busy' });

    await runtime.media.release(901);
    await runtime.media.reserve({ jobId: 902, resources: [{ kind: 'volume', pool: 'daily', mediaId: 'CRN001' }], at: clock.now() });
    expect(await reserveRestoreVolume(runtime, jobId, 0, clock.now())).toMatchObject({ granted: false, reason: 'waiting for volume: volume CRN001 is in use by job 902' });

    // The cloud scheduler's idle unload holds the drive and the volume under a holder id of no job: the reason names the unload.
    await runtime.media.release(902);
    await runtime.media.reserve({ jobId: 903, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd1' }, { kind: 'volume', pool: 'daily', mediaId: 'CRN001' }], at: clock.now() });
    await runtime.emm.setDriveLoaded('d1', 'CRN001', clock.now());
    await runtime.emm.setDriveUnloading('d1', { mediaId: 'CRN001', holder: 903, instanceId: 'mi-0123456789abcdef0', commandId: 'c0ffee00-0000-4000-8000-000000000001', since: clock.now().toISOString() });
    expect(await reserveRestoreVolume(runtime, jobId, 0, clock.now())).toMatchObject({ granted: false, reason: 'waiting for volume: volume CRN001 is being unloaded from drive d1 (idle past its unmount delay)' });
    // The volume free again but the drive still unloading (d0 is DOWN): the drive's obstacle is the unload.
    await runtime.media.release(903);
    await runtime.media.reserve({ jobId: 903, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd1' }], at: clock.now() });
    expect(await reserveRestoreVolume(runtime, jobId, 0, clock.now())).toMatchObject({ granted: false, reason: 'waiting for drive: drive d0 is DOWN (cleaning), drive d1 is unloading volume CRN001 (idle past its unmount delay)' });
    await runtime.media.release(903);
    await runtime.emm.setDriveUnloading('d1', undefined);
    await runtime.emm.setDriveLoaded('d1', undefined, clock.now());
    await runtime.media.reserve({ jobId: 902, resources: [{ kind: 'volume', pool: 'daily', mediaId: 'CRN001' }], at: clock.now() });
    expect(await runtime.media.listReservations()).toEqual([expect.objectContaining({ jobId: 902 })]);
  });

  it('refuses a job that was cancelled, and adds each volume\'s totals once', async () => {
    const jobId = await queued();
    const result = { files: 3, bytes: 100, verified: 2, refused: [], renamed: [], failures: [], statusCode: 0 };
    expect(await recordVolumeRead(runtime, jobId, 0, result, clock.now())).toEqual({ statusCode: 0 });
    expect(await recordVolumeRead(runtime, jobId, 0, result, clock.now())).toEqual({ statusCode: 0 });
    expect(await recordVolumeRead(runtime, jobId, 1, { ...result, files: 1, refused: ['/home/x: absolute link'], statusCode: 1 }, clock.now())).toEqual({ statusCode: 1 });
    const job = asKind(await runtime.jobs.get(jobId), 'restore');
    expect(job?.progress).toMatchObject({ files: 4, bytes: 200 });
    expect(job?.notRestored).toEqual(['refused: /home/x: absolute link']);

    await runtime.jobs.update(jobId, (j) => ({ ...j, state: 'DONE', statusCode: 150 }));
    const refused = await reserveRestoreVolume(runtime, jobId, 1, clock.now()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CairnError);
    expect(refused).toMatchObject({ statusCode: 150 });
    await expect(recordVolumeRead(runtime, jobId, 1, result, clock.now())).rejects.toMatchObject({ statusCode: 150 });
  });
});
