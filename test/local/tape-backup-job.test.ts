import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob, type BackupRun } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { asKind } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { restoreAndCompare as restoreImageAndCompare } from './tape-library-runtime.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');

/** Counts the robot's moves the in-process agent makes, and can hold a Mount until the test lets it go. */
function countingDevices(): TapeDevices & { loads: number; unloads: number; hold?: Promise<void> } {
  const devices: TapeDevices & { loads: number; unloads: number; hold?: Promise<void> } = {
    loads: 0,
    unloads: 0,
    openChanger: (robot) => {
      const changer = realTapeDevices.openChanger(robot);
      return {
        description: changer.description,
        inventory: () => changer.inventory(),
        loaded: (drive) => changer.loaded(drive),
        load: async (slot, drive) => {
          devices.loads += 1;
          await changer.load(slot, drive);
        },
        unload: async (slot, drive) => {
          devices.unloads += 1;
          await changer.unload(slot, drive);
        },
        transfer: (from, to) => changer.transfer(from, to),
      };
    },
    openDrive: async (drive) => {
      await devices.hold;
      return realTapeDevices.openDrive(drive);
    },
  };
  return devices;
}

/**
 * A tape backup in the standalone runtime: the real backup-job.asl.json
 * in process, SQLite (jobs, catalog, reservations, media manager), the
 * in-process agent, and Debian's disk-changer as a real virtual library
 * whose volumes are file tapes.
 */
describe.skipIf(Boolean(skip))(`a backup job to a tape storage unit${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let source: string;

  async function setUp(options: { drives?: number; barcodes?: Record<number, string>; unmountDelaySeconds?: number; media?: string[]; capacityBytes?: number } = {}): Promise<void> {
    library = diskChangerLibrary({ slots: 4, drives: options.drives ?? 1, barcodes: options.barcodes ?? { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' } });
    work = library.base;
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: options.capacityBytes ?? 256 * 1024 * 1024 }, AT);
    for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `d${index}`, robot: 'lib1', index, path, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    const barcodes = options.barcodes ?? { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' };
    for (const [slot, mediaId] of Object.entries(barcodes)) {
      if (options.media && !options.media.includes(mediaId)) continue;
      await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    }
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') }, mediaUnmountDelaySeconds: options.unmountDelaySeconds ?? 180 }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
  }

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  const backup = (devices: TapeDevices, client = 'host1', hooks: Parameters<typeof runBackupJob>[2] = {}): Promise<BackupRun> =>
    runBackupJob({ ...runtime, tapeDevices: devices }, { client, selections: [source], storageUnit: 'tape1' }, hooks);

  // The restore is a job: it mounts the volume itself, a drive reserved for its duration, the volume loaded if it is not there.
  const restoreAndCompare = (image: Image, target: string, devices: TapeDevices) => restoreImageAndCompare(runtime, image, source, target, { devices });

  it('reserves a drive and a scratch volume, mounts and labels it, writes, catalogs the tape locations, keeps it loaded; a second backup appends without a robot move; both restore byte for byte', async () => {
    await setUp();
    const devices = countingDevices();
    const first = await backup(devices);
    expect(first.error).toBeUndefined();
    expect(first.statusCode).toBe(0);
    expect(devices.loads).toBe(1);
    expect(devices.unloads).toBe(0);
    expect(await runtime.media.listReservations()).toEqual([]);
    // The job names the volume and the drive it was given (the job page's Volumes and Drives).
    expect(asKind(await runtime.jobs.get(first.jobId!), 'backup')).toMatchObject({ volumes: ['CRN001L6'], drives: ['d0'] });

    const image = (await runtime.catalog.getImage(first.backupId!))!;
    const locations = image.copies[0]!.fragments.map((f) => f.location);
    expect(locations[0]).toMatchObject({ kind: 'tape', mediaId: 'CRN001L6', fileNumber: 1 });
    const volume = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(volume).toMatchObject({ pool: 'daily', state: 'ACTIVE', images: [first.backupId], tapeFiles: 1 + locations.length, mountCount: 1, retentionDays: asKind(await runtime.jobs.get(first.jobId!), 'backup')?.retentionDays });
    expect(volume.bytesWritten).toBe(image.copies[0]!.fragments.reduce((n, f) => n + f.bytes, 0));
    expect(volume.expiresAt).toBe(image.expiresAt);
    // Kept loaded for the unmount delay: the robot and the media manager agree.
    expect((await runtime.emm.getDrive('d0'))?.loaded?.mediaId).toBe('CRN001L6');
    expect(await library.changer.loaded(0)).toMatchObject({ full: true, sourceSlot: 1 });
    expect((await runtime.emm.getMedia('CRN002L6'))?.pool).toBe('scratch');

    const second = await backup(devices, 'host2');
    expect(second.error).toBeUndefined();
    expect(second.statusCode).toBe(0);
    expect(devices.loads).toBe(1);
    const image2 = (await runtime.catalog.getImage(second.backupId!))!;
    expect(image2.copies[0]!.fragments[0]!.location).toMatchObject({ kind: 'tape', mediaId: 'CRN001L6', fileNumber: 1 + locations.length });
    const after = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(after.images).toEqual([first.backupId, second.backupId]);
    expect(after.tapeFiles).toBe(1 + locations.length + image2.copies[0]!.fragments.length);
    expect(after.mountCount).toBe(1);

    const restored = await restoreAndCompare(image, join(work, 'restore1'), devices);
    expect(restored.job).toMatchObject({ volumes: [{ mediaId: 'CRN001L6', read: true }], drives: ['d0'] });
    // Its throughput over time, for the job page's chart: from 0 to what it restored.
    expect(restored.job!.progress.samples?.[0]?.[1]).toBe(0);
    expect(restored.job!.progress.samples?.at(-1)?.[1]).toBe(restored.job!.progress.bytes);
    expect(restored.job!.progress.throughputBps).toBeGreaterThan(0);
    await restoreAndCompare(image2, join(work, 'restore2'), devices);
    // Both restores read the volume where the backups left it: no robot move.
    expect(devices.loads).toBe(1);
  });

  it('restores from a volume that is back in its slot: the restore mounts it in a free drive', async () => {
    await setUp({ unmountDelaySeconds: 0 });
    const devices = countingDevices();
    const run = await backup(devices);
    expect(run.statusCode).toBe(0);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    await restoreAndCompare((await runtime.catalog.getImage(run.backupId!))!, join(work, 'restore'), devices);
    expect(devices.loads).toBe(2);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
  });

  it('unloads the volume back to its slot after the job when the unit has no unmount delay', async () => {
    await setUp({ unmountDelaySeconds: 0 });
    const devices = countingDevices();
    const run = await backup(devices);
    expect(run.statusCode).toBe(0);
    expect(devices.loads).toBe(1);
    expect(devices.unloads).toBe(1);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('refuses a volume whose label names another media id with 93, unloads it, and freezes nothing', async () => {
    await setUp({ media: ['CRN002L6'] });
    // Slot 2's cartridge carries the label of another volume.
    const tape = await FileTape.open(join(library.base, 'slot2'), { blockSize: BLOCK });
    await writeLabel(tape, { mediaId: 'CRN009L6', pool: 'weekly', writtenAt: AT.toISOString(), writtenBy: 'cairn test' });
    await tape.close();
    const devices = countingDevices();
    const run = await backup(devices);
    expect(run.statusCode).toBe(93);
    expect(run.error).toMatch(/expected volume CRN002L6, found volume CRN009L6/);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect(await runtime.media.listReservations()).toEqual([]);
    const volume = (await runtime.emm.getMedia('CRN002L6'))!;
    expect(volume).toMatchObject({ state: 'UNASSIGNED', images: [], tapeFiles: 0, errors: [] });
    expect((await runtime.emm.getDrive('d0'))).toMatchObject({ state: 'UP', errorCount: 0 });
    expect(await runtime.catalog.listImages()).toEqual([]);
  });

  it('makes a second job for the one drive wait with "all 1 drive busy", then runs it after the first', async () => {
    await setUp();
    const devices = countingDevices();
    let release!: () => void;
    devices.hold = new Promise<void>((resolve) => (release = resolve));
    const first = backup(devices, 'host1');
    let secondJob: number | undefined;
    const second = backup(devices, 'host2', { onQueued: (job) => (secondJob = job.jobId) });
    let reason: string | undefined;
    for (let i = 0; i < 200 && reason === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const job = secondJob === undefined ? undefined : await runtime.jobs.get(secondJob);
      if (job?.state === 'QUEUED' && job.waitingReason?.includes('busy')) reason = job.waitingReason;
    }
    expect(reason).toBe('waiting for drive: all 1 drive busy');
    release();
    const [a, b] = await Promise.all([first, second]);
    expect([a.statusCode, b.statusCode]).toEqual([0, 0]);
    const secondRecord = asKind(await runtime.jobs.get(b.jobId!), 'backup');
    expect(secondRecord?.waitingReason).toBeUndefined();
    expect((await runtime.emm.getMedia('CRN001L6'))?.images).toEqual([a.backupId, b.backupId]);
  });
});
