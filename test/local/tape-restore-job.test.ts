import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runRestoreJob, type RestoreRun } from '#local/restore-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { BackupTask } from '#core/model/task.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { commitImage } from '#core/catalog/catalog-service.ts';
import { cancelJob } from '#core/jobs/job-service.ts';
import { runBackup } from '#agent/image/backup.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { trustedIndex } from '#agent/restore/image-trust.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { TapeFragmentSink } from '#agent/tape/format/tape-fragment-sink.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');

/** What the in-process agent did with the drives: robot loads, and every positioning and record read of a restore. */
interface Counted extends TapeDevices {
  loads: number;
  seeks: number[];
  /** Records read since the first seekBlock (the label check before it rewinds and reads file 0). */
  recordsAfterSeek: number;
  hold?: Promise<void>;
}

/** The real changer and drives, counted: a restore's reads and positions are what the drive was asked to do. */
function countingDevices(): Counted {
  const devices: Counted = {
    loads: 0,
    seeks: [],
    recordsAfterSeek: 0,
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
        unload: (slot, drive) => changer.unload(slot, drive),
        transfer: (from, to) => changer.transfer(from, to),
      };
    },
    openDrive: async (access) => {
      await devices.hold;
      const drive = await realTapeDevices.openDrive(access);
      // Every method of the real drive, with seekBlock and readRecord counted.
      return new Proxy(drive, {
        get(target, property, receiver) {
          if (property === 'seekBlock') {
            return async (block: number) => {
              devices.seeks.push(block);
              await target.seekBlock(block);
            };
          }
          if (property === 'readRecord') {
            return async (buffer: Uint8Array) => {
              const read = await target.readRecord(buffer);
              if (read.kind === 'record' && devices.seeks.length > 0) devices.recordsAfterSeek += 1;
              return read;
            };
          }
          const value = Reflect.get(target, property, receiver) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as TapeDrive;
    },
  };
  return devices;
}

/**
 * A restore of a tape image as a job: the real restore-job.asl.json in
 * process (aws-local-stepfunctions), SQLite stores, the in-process agent,
 * Debian's disk-changer as a real virtual library of file tapes with two
 * drives. Images are written by real tape backups (backup-job.asl.json),
 * or, for one spanning two volumes, by the backup writer with the two
 * volumes as its fragment sinks (spanning in the backup job is another
 * part of issue 10).
 */
describe.skipIf(Boolean(skip))(`a restore job of a tape image${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let source: string;

  async function setUp(options: { unmountDelaySeconds?: number } = {}): Promise<void> {
    library = diskChangerLibrary({ slots: 4, drives: 2, barcodes: { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' } });
    work = library.base;
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 256 * 1024 * 1024 }, AT);
    for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `d${index}`, robot: 'lib1', index, path, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [slot, mediaId] of Object.entries({ 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' })) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({
        name: 'tape1',
        kind: 'tape',
        robot: 'lib1',
        pool: 'daily',
        index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') },
        mediaUnmountDelaySeconds: options.unmountDelaySeconds ?? 0,
        fragmentSizeBytes: 1024 * 1024,
      }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
  }

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  async function backupToTape(devices: TapeDevices): Promise<string> {
    const run = await runBackupJob({ ...runtime, tapeDevices: devices }, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    return run.backupId!;
  }

  const restore = (devices: TapeDevices, request: { backupId: string; targetDir: string; paths?: string[] }, hooks: Parameters<typeof runRestoreJob>[2] = {}): Promise<RestoreRun> =>
    runRestoreJob({ ...runtime, tapeDevices: devices }, request, hooks);

  it('restores a whole tape image byte for byte as a job through its own state machine, visible with its volume, nothing left reserved', async () => {
    await setUp();
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    const image = (await runtime.catalog.getImage(backupId))!;
    expect(image.copies[0]!.fragments.length).toBeGreaterThan(2);

    const target = join(work, 'restore');
    const run = await restore(devices, { backupId, targetDir: target });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);

    const job = asKind(await runtime.jobs.get(run.jobId!), 'restore')!;
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, source: { backupId }, storageUnit: 'tape1', notRestored: [] });
    expect(job.volumes).toEqual([{ mediaId: 'CRN001L6', fragments: image.copies[0]!.fragments.map((f) => f.number), read: true, files: job.progress.files, bytes: job.progress.bytes }]);
    expect(job.progress.files).toBe(image.fileCount);
    expect((await runtime.jobs.list({})).map((j) => j.type)).toContain('restore');
    expect(await runtime.media.listReservations()).toEqual([]);
    // Unloaded after the read (the unit keeps nothing loaded), and the media manager agrees.
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect(await library.changer.loaded(1)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
  });

  it('restores a single file by positioning to its fragment and reading only its records', async () => {
    await setUp();
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    const image = (await runtime.catalog.getImage(backupId))!;
    const fragments = image.copies[0]!.fragments;
    const wanted = join(source, 'docs', 'file-05-4096.bin');
    expect(readFileSync(wanted).length).toBe(4096);

    devices.seeks = [];
    devices.recordsAfterSeek = 0;
    const target = join(work, 'one');
    const run = await restore(devices, { backupId, targetDir: target, paths: [wanted] });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect(readFileSync(join(target, wanted)).equals(readFileSync(wanted))).toBe(true);
    expect(run.job?.progress.files).toBe(1);
    // One LOCATE (after the label check, which rewinds), into the fragment that holds the file; then only the
    // records of its header and 4 KiB of data: one or two 64 KiB records, where the image has more than 50.
    expect(devices.seeks.length).toBe(1);
    const block = devices.seeks[0]!;
    const holding = fragments.filter((f) => f.location.kind === 'tape' && f.location.blockOffset <= block && block < f.location.blockOffset + Math.ceil(f.bytes / BLOCK));
    expect(holding.map((f) => f.number)).toEqual([1]);
    expect(devices.recordsAfterSeek).toBeGreaterThanOrEqual(1);
    expect(devices.recordsAfterSeek).toBeLessThanOrEqual(2);
    expect(fragments.reduce((n, f) => n + Math.ceil(f.bytes / BLOCK), 0)).toBeGreaterThan(50);
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('waits with a precise reason while both drives are reserved by backups, and finishes once they release', async () => {
    await setUp();
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    // Two running backup jobs hold both drives (and each a volume), as the broker reserves them.
    for (const [jobId, drive, mediaId] of [[9001, 'd0', 'CRN002L6'], [9002, 'd1', 'CRN003L6']] as const) {
      const granted = await runtime.media.reserve({ jobId, resources: [{ kind: 'drive', storageUnit: 'tape1', drive }, { kind: 'volume', pool: 'scratch', mediaId }], at: AT });
      expect(granted.granted).toBe(true);
    }
    let jobId: number | undefined;
    const running = restore(devices, { backupId, targetDir: join(work, 'waited') }, { onQueued: (ref) => (jobId = ref.jobId) });
    let seen: string | undefined;
    for (let i = 0; i < 200 && seen === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const job = jobId === undefined ? undefined : await runtime.jobs.get(jobId);
      if (job?.state === 'QUEUED' && job.waitingReason?.includes('busy')) seen = job.waitingReason;
    }
    expect(seen).toBe('waiting for drive: all 2 drives busy');
    await runtime.media.release(9001);
    await runtime.media.release(9002);
    const run = await running;
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect(run.job?.waitingReason).toBeUndefined();
    expect((await compareTrees(source, join(work, 'waited', source))).differences).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('refuses the wrong volume in the slot with 93, unmounts, releases the drive and ends the job', async () => {
    await setUp();
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    // The media manager now says CRN001L6 lives in slot 3, whose cartridge carries another label.
    const other = await FileTape.open(join(library.base, 'slot3'), { blockSize: BLOCK });
    await writeLabel(other, { mediaId: 'CRN003L6', pool: 'daily', writtenAt: AT.toISOString(), writtenBy: 'cairn test' });
    await other.close();
    await runtime.emm.updateMedia('CRN001L6', (m) => ({ ...m, slot: 3 }));

    const run = await restore(devices, { backupId, targetDir: join(work, 'wrong') });
    expect(run.statusCode).toBe(93);
    expect(run.error).toMatch(/expected volume CRN001L6, found volume CRN003L6/);
    expect(run.job).toMatchObject({ state: 'DONE', statusCode: 93 });
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect(await library.changer.loaded(1)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
  });

  it('ends with 85 when a record cannot be read, and still unmounts the volume and releases the drive', async () => {
    await setUp({ unmountDelaySeconds: 180 });
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    // The Read's drive fails on its fifth record (the label check reads the first).
    const faulty: TapeDevices = { ...devices, openDrive: async (access) => new FaultyTapeDrive(await devices.openDrive(access), { readErrorAtRecord: 5, sticky: true }) };
    const run = await restore(faulty, { backupId, targetDir: join(work, 'unreadable') });
    expect(run.statusCode).toBe(85);
    expect(run.job).toMatchObject({ state: 'DONE', statusCode: 85 });
    expect(await runtime.media.listReservations()).toEqual([]);
    // A failed job always unloads, even on a unit that keeps volumes loaded after a good job.
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
  });

  it('is cancelled by `cairn jobs cancel` while it waits, and holds nothing', async () => {
    await setUp();
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    await runtime.media.reserve({ jobId: 9001, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd0' }, { kind: 'drive', storageUnit: 'tape1', drive: 'd1' }], at: AT });
    let jobId: number | undefined;
    const running = restore(devices, { backupId, targetDir: join(work, 'cancelled') }, { onQueued: (ref) => (jobId = ref.jobId) });
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const job = jobId === undefined ? undefined : await runtime.jobs.get(jobId);
      if (job?.waitingReason?.includes('busy')) break;
    }
    await cancelJob(runtime, jobId!, runtime.clock.now());
    const run = await running;
    expect(run.statusCode).toBe(150);
    expect(await runtime.media.listReservations()).toEqual([expect.objectContaining({ jobId: 9001 }), expect.objectContaining({ jobId: 9001 })]);
  });

  it('is cancelled by `cairn jobs cancel` while it mounts and reads: the Read stops, the volume is unloaded and the drive released', async () => {
    await setUp({ unmountDelaySeconds: 180 });
    const devices = countingDevices();
    const backupId = await backupToTape(devices);
    let release!: () => void;
    devices.hold = new Promise<void>((resolve) => (release = resolve));
    let jobId: number | undefined;
    const running = restore(devices, { backupId, targetDir: join(work, 'stopped') }, { onQueued: (ref) => (jobId = ref.jobId) });
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (jobId !== undefined && (await runtime.jobs.get(jobId))?.state === 'ACTIVE') break;
    }
    expect((await runtime.jobs.get(jobId!))?.state).toBe('ACTIVE');
    await cancelJob(runtime, jobId!, runtime.clock.now());
    release();
    const run = await running;
    expect(run.statusCode).toBe(150);
    // The Read stopped at its first progress report: not every file was restored.
    expect(run.job?.volumes[0]?.read).toBe(false);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
  });

  it('restores an image that spans two volumes, mounting each in turn, byte for byte; a single file on the second mounts only that one', async () => {
    await setUp();
    const backupId = await writeSpanningImage();
    const image = (await runtime.catalog.getImage(backupId))!;
    const volumes = [...new Set(image.copies[0]!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];
    expect(volumes).toEqual(['CRN001L6', 'CRN002L6']);

    const devices = countingDevices();
    const target = join(work, 'spanned');
    const run = await restore(devices, { backupId, targetDir: target });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    expect(run.job?.volumes.map((v) => [v.mediaId, v.read])).toEqual([['CRN001L6', true], ['CRN002L6', true]]);
    expect(run.job?.progress.files).toBe(image.fileCount);
    expect(devices.loads).toBe(2);
    expect(await runtime.media.listReservations()).toEqual([]);

    // A single file on the second volume: the plan (from the index) mounts that volume only.
    const copy = image.copies[0]!;
    const onSecond = new Set(copy.fragments.filter((f) => f.location.kind === 'tape' && f.location.mediaId === 'CRN002L6').map((f) => f.number));
    let wanted: string | undefined;
    for await (const entry of trustedIndex(await openStorageUnit((await runtime.config.getStorageUnit('tape1'))!), image, copy)) if (entry.type === 'file' && onSecond.has(entry.fragment)) wanted = entry.path;
    expect(wanted).toBeDefined();
    const loadsBefore = devices.loads;
    const single = await restore(devices, { backupId, targetDir: join(work, 'single'), paths: [wanted!] });
    expect(single.error).toBeUndefined();
    expect(single.statusCode).toBe(0);
    expect(readFileSync(join(work, 'single', wanted!)).equals(readFileSync(wanted!))).toBe(true);
    expect(single.job?.volumes.map((v) => v.mediaId)).toEqual(['CRN002L6']);
    expect(devices.loads - loadsBefore).toBe(1);

    // A path that is not in the image fails at Plan (227), before any volume is mounted.
    const nothing = await restore(devices, { backupId, targetDir: join(work, 'nothing'), paths: ['/no/such/path'] });
    expect(nothing.statusCode).toBe(227);
    expect(nothing.job?.volumes).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  /**
   * An image whose fragments run from CRN001L6 onto CRN002L6: the backup
   * writer with the two labelled volumes as its fragment sinks (the first
   * with an early warning after 1 MiB), committed by the Catalog step's code.
   */
  async function writeSpanningImage(): Promise<string> {
    const unit = (await runtime.config.getStorageUnit('tape1'))!;
    const jobId = await runtime.jobs.nextJobId();
    const backupId = `host1_${Math.floor(AT.getTime() / 1000)}`;
    const at = AT.toISOString();
    const job: BackupJob = {
      jobId, type: 'backup', state: 'ACTIVE', attempt: 1, client: 'host1', policy: 'manual', schedule: 'user', level: 'full', storageUnit: 'tape1',
      selections: [source], exclude: [], retentionDays: 7, backupId, unreadable: [], attempts: [],
      progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, queuedAt: at, startedAt: at, updatedAt: at,
    };
    await runtime.jobs.create(job);
    expect(await runtime.catalog.claimBackupId({ backupId, jobId, client: 'host1', storageUnit: 'tape1', claimedAt: at })).toBe(true);
    const first = await FileTape.open(join(library.base, 'slot1'), { blockSize: BLOCK, capacityBytes: 64 * 1024 * 1024, earlyWarningBytes: 63 * 1024 * 1024 });
    const second = await FileTape.open(join(library.base, 'slot2'), { blockSize: BLOCK });
    try {
      await writeLabel(first, { mediaId: 'CRN001L6', pool: 'daily', writtenAt: at, writtenBy: 'cairn' });
      await writeLabel(second, { mediaId: 'CRN002L6', pool: 'daily', writtenAt: at, writtenBy: 'cairn' });
      const task = BackupTask.parse({ jobId, backupId, client: 'host1', policy: 'manual', schedule: 'user', level: 'full', selections: [source], storageUnit: unit });
      const result = await runBackup(task, {
        store: await openStorageUnit(unit),
        reporter: { progress: async () => undefined, heartbeat: async () => undefined },
        now: () => AT,
        sinks: {
          first: () => TapeFragmentSink.mount({ drive: first, mediaId: 'CRN001L6', appendFile: 1 }),
          next: () => TapeFragmentSink.mount({ drive: second, mediaId: 'CRN002L6', appendFile: 1 }),
        },
      });
      await commitImage({ jobs: runtime.jobs, catalog: runtime.catalog, emm: runtime.emm }, jobId, result, AT);
    } finally {
      await first.close();
      await second.close();
    }
    return backupId;
  }
});
