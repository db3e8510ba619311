import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { realpathSync } from 'node:fs';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob, type BackupRun } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { TapeDriveAccess } from '#core/model/tape-task.ts';
import { runRestoreJob } from '#local/restore-engine.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { FaultyTapeDrive, type TapeFaults } from '#agent/tape/drives/faulty-tape-drive.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { restoreAndCompare as restoreImageAndCompare } from './tape-library-runtime.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');
const BARCODES = { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' };

/**
 * The real drives and changer, with faults injected (FaultyTapeDrive) into
 * every opening of a drive for which `faultsFor` says so: by the volume the
 * drive holds (disk-changer's `driveN` link points at the slot's file) or
 * by the drive. The label and the mount's positioning write or read fewer
 * records than the faults' record numbers, so the faults strike the Stream
 * (or the restore's reads).
 */
function faultyDevices(library: DiskChangerLibrary, faultsFor: (drive: TapeDriveAccess, mediaId: string | undefined) => TapeFaults | undefined): TapeDevices & { injected: FaultyTapeDrive[] } {
  const slotOf = (path: string): string | undefined => {
    try {
      return /slot(\d+)$/.exec(realpathSync(path))?.[1];
    } catch {
      return undefined;
    }
  };
  const injected: FaultyTapeDrive[] = [];
  return {
    injected,
    openChanger: (robot) => realTapeDevices.openChanger(robot),
    openDrive: async (drive) => {
      const slot = slotOf(drive.path);
      const faults = faultsFor(drive, slot === undefined ? undefined : BARCODES[Number(slot) as 1 | 2 | 3]);
      const opened = await realTapeDevices.openDrive(drive);
      if (faults === undefined) return opened;
      const faulty = new FaultyTapeDrive(opened, faults);
      injected.push(faulty);
      return faulty;
    },
  };
}

/**
 * Tape errors through a whole job: the real backup-job.asl.json in process,
 * SQLite, the in-process agent, Debian's disk-changer with file tapes, and
 * FaultyTapeDrive injected through JobEngineDeps.tapeDevices. The agent's
 * error names the drive and the volume; Release counts it in the media
 * manager and applies the error policy; the retry gets another volume.
 */
describe.skipIf(Boolean(skip))(`tape errors in backup and restore jobs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let source: string;

  async function setUp(options: { drives?: number } = {}): Promise<void> {
    library = diskChangerLibrary({ slots: 4, drives: options.drives ?? 1, barcodes: BARCODES });
    runtime = await openLocalRuntime({ home: join(library.base, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 256 * 1024 * 1024 }, AT);
    for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `d${index}`, robot: 'lib1', index, path, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [slot, mediaId] of Object.entries(BARCODES)) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(library.base, 'index') }, mediaUnmountDelaySeconds: 0 }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    await runtime.config.putSetting('jobRetryDelaySeconds', 0);
    source = join(library.base, 'source');
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
  }

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  const backup = (devices: TapeDevices, client = 'host1'): Promise<BackupRun> => runBackupJob({ ...runtime, tapeDevices: devices }, { client, selections: [source], storageUnit: 'tape1' });

  const details = async (jobId: number): Promise<string[]> => ((await runtime.jobs.get(jobId))?.details ?? []).map((d) => d.message);

  const restoreAndCompare = async (backupId: string, target: string) => restoreImageAndCompare(runtime, (await runtime.catalog.getImage(backupId))!, source, target);

  it('fails attempt 1 with 84 on a write error, freezes the volume at the threshold, and the retry finishes on another volume that restores byte for byte', async () => {
    await setUp();
    await runtime.config.putSetting('mediaErrorFreeze', { errors: 1, withinHours: 12 });
    const devices = faultyDevices(library, (_drive, mediaId) => (mediaId === 'CRN001L6' ? { writeErrorAtRecord: 3 } : undefined));

    const run = await backup(devices);

    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect(devices.injected.reduce((n, d) => n + d.injected.write, 0)).toBe(1);
    const job = (await runtime.jobs.get(run.jobId!))!;
    expect(job.attempt).toBe(2);
    expect(job.attempts).toHaveLength(1);
    expect(job.attempts[0]).toMatchObject({ attempt: 1, statusCode: 84, error: expect.stringMatching(/injected write error at record 3/) });
    // The attempt's error keeps the tag it travelled with: it names the drive, the volume and where the tape was.
    expect(job.attempts[0]!.error).toMatch(/\[tape-fault kind=write drive=d0 media=CRN001L6 file=1 block=\d+\]/);

    const frozen = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(frozen).toMatchObject({ state: 'FROZEN', images: [], pool: 'daily' });
    expect(frozen.errors).toEqual([expect.objectContaining({ kind: 'write', drive: 'd0', jobId: run.jobId, message: expect.stringMatching(/^job \d+ attempt 1: .*injected write error at record 3$/) })]);
    const drive = (await runtime.emm.getDrive('d0'))!;
    expect(drive).toMatchObject({ state: 'UP', errorCount: 1 });
    expect(drive.errors).toEqual([expect.objectContaining({ kind: 'write', mediaId: 'CRN001L6', jobId: run.jobId })]);

    expect(await details(run.jobId!)).toEqual([
      expect.stringMatching(/^attempt 1: write error on volume CRN001L6 in drive d0 \(tape file 1, block \d+\): .*injected write error at record 3$/),
      'attempt 1: volume CRN001L6 had 1 errors (1 write) within 12 hours (threshold 1): frozen',
      'attempt 1: drive d0 had 1 of 3 errors within 12 hours',
    ]);

    const image = (await runtime.catalog.getImage(run.backupId!))!;
    expect(new Set(image.copies[0]!.fragments.map((f) => f.location.kind === 'tape' && f.location.mediaId))).toEqual(new Set(['CRN002L6']));
    expect(await runtime.emm.getMedia('CRN002L6')).toMatchObject({ state: 'ACTIVE', images: [run.backupId] });
    expect(await runtime.media.listReservations()).toEqual([]);
    await restoreAndCompare(run.backupId!, join(library.base, 'restore'));

    // A frozen volume is never chosen again: the next backup appends to CRN002L6.
    const next = await backup(realTapeDevices, 'host2');
    expect(next.statusCode).toBe(0);
    expect((await runtime.emm.getMedia('CRN002L6'))?.images).toEqual([run.backupId, next.backupId]);
  });

  it('below the threshold the volume stays writable, but the retry is given another volume (the failed one is suspect for the job)', async () => {
    await setUp();
    const devices = faultyDevices(library, (_drive, mediaId) => (mediaId === 'CRN001L6' ? { writeErrorAtRecord: 3 } : undefined));

    const run = await backup(devices);

    expect(run.statusCode).toBe(0);
    expect((await runtime.jobs.get(run.jobId!))?.attempts[0]).toMatchObject({ statusCode: 84 });
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ state: 'UNASSIGNED', errors: [expect.objectContaining({ kind: 'write' })] });
    expect(await details(run.jobId!)).toContain("attempt 1: volume CRN001L6 had 1 of 3 errors within 12 hours: suspect, so this job's retry is given another volume");
    const image = (await runtime.catalog.getImage(run.backupId!))!;
    expect(image.copies[0]!.fragments.every((f) => f.location.kind === 'tape' && f.location.mediaId === 'CRN002L6')).toBe(true);
    // Other jobs may still use it: it is not frozen.
    const next = await backup(realTapeDevices, 'host2');
    expect(next.statusCode).toBe(0);
  });

  it('counts a position error of the Mount (86) like a write error: the retry mounts another volume', async () => {
    await setUp();
    const devices = faultyDevices(library, (_drive, mediaId) => (mediaId === 'CRN001L6' ? { positionErrorAtCall: 1, sticky: true } : undefined));

    const run = await backup(devices);

    expect(run.statusCode).toBe(0);
    const job = (await runtime.jobs.get(run.jobId!))!;
    expect(job.attempts[0]).toMatchObject({ statusCode: 86, error: expect.stringMatching(/injected position error on rewind/) });
    expect((await runtime.emm.getMedia('CRN001L6'))?.errors).toEqual([expect.objectContaining({ kind: 'position', drive: 'd0', jobId: run.jobId })]);
    expect((await runtime.emm.getDrive('d0'))?.errorCount).toBe(1);
    expect(await details(run.jobId!)).toContainEqual(expect.stringMatching(/^attempt 1: position error on volume CRN001L6 in drive d0/));
    const image = (await runtime.catalog.getImage(run.backupId!))!;
    expect(image.copies[0]!.fragments.every((f) => f.location.kind === 'tape' && f.location.mediaId === 'CRN002L6')).toBe(true);
  });

  it('takes a drive with repeated errors DOWN; the next job uses the other drive', async () => {
    await setUp({ drives: 2 });
    await runtime.config.putSetting('driveErrorDown', { errors: 2, withinHours: 12 });
    // Drive d0 fails every write whatever the volume; d1 is fine.
    const devices = faultyDevices(library, (drive) => (drive.name === 'd0' ? { writeErrorAtRecord: 3 } : undefined));

    // Backup Tries 2: both attempts take d0 (the first empty drive) and fail there, each on its own volume.
    const failed = await backup(devices);
    expect(failed.statusCode).toBe(84);
    const job = (await runtime.jobs.get(failed.jobId!))!;
    expect(job.attempts.map((a) => a.statusCode)).toEqual([84]);
    const d0 = (await runtime.emm.getDrive('d0'))!;
    expect(d0).toMatchObject({ state: 'DOWN', errorCount: 2, downReason: 'drive d0 had 2 errors (2 write) within 12 hours (threshold 2): DOWN' });
    expect(d0.errors.map((e) => e.mediaId)).toEqual(['CRN001L6', 'CRN002L6']);
    expect(await details(failed.jobId!)).toContain('attempt 2: drive d0 had 2 errors (2 write) within 12 hours (threshold 2): DOWN');
    expect(await runtime.media.listReservations()).toEqual([]);

    const next = await backup(devices, 'host2');
    expect(next.error).toBeUndefined();
    expect(next.statusCode).toBe(0);
    expect((await runtime.emm.getDrive('d1'))?.lastUsedAt).toBeDefined();
    expect((await runtime.emm.getDrive('d1'))?.errorCount).toBe(0);
    await restoreAndCompare(next.backupId!, join(library.base, 'restore'));
  });

  it('counts a read error during a restore job on the volume and the drive', async () => {
    await setUp();
    const run = await backup(realTapeDevices);
    expect(run.statusCode).toBe(0);
    // Record 1 of the restore's reads is the label; record 3 is inside the first fragment.
    const devices = faultyDevices(library, () => ({ readErrorAtRecord: 3 }));
    const restore = await runRestoreJob({ ...runtime, tapeDevices: devices }, { backupId: run.backupId!, targetDir: join(library.base, 'restore') });
    expect(restore).toMatchObject({ statusCode: 85, error: expect.stringMatching(/injected read error at record 3/) });
    const volume = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(volume.state).toBe('ACTIVE');
    expect(volume.errors).toEqual([expect.objectContaining({ kind: 'read', drive: 'd0', jobId: restore.jobId })]);
    expect(await runtime.emm.getDrive('d0')).toMatchObject({ state: 'UP', errorCount: 1, errors: [expect.objectContaining({ kind: 'read', mediaId: 'CRN001L6' })] });
    expect(await runtime.media.listReservations()).toEqual([]);
  });
});
