import { join } from 'node:path';
import { expect } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { Image } from '#core/model/image.ts';
import type { Clock } from '#core/ports/clock.ts';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { runRestoreJob, type RestoreRun } from '#local/restore-engine.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { DISK_CHANGER, diskChangerLibrary, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { gnuTarList, readVolumeBytes } from '../edge-agent/tape/tape-shelf.ts';

export const BLOCK = 64 * 1024;
export const AT = new Date('2026-12-03T04:00:00.000Z');

export interface TapeLibraryOptions {
  drives?: number;
  slots?: number;
  /** slot → barcode; every one is added to the media manager in scratch. */
  barcodes: Record<number, string>;
  unmountDelaySeconds?: number;
  capacityBytes?: number;
  fragmentSizeBytes?: number;
  clock?: Clock;
}

/**
 * A standalone runtime (SQLite under `home`) with a disk-changer library
 * (file tapes) as robot `lib1`, drives `d0`..`dN`, pool `daily` and the tape
 * unit `tape1` writing it, as `cairn robot add` + `inventory` + `storage-unit
 * add` would leave them. `runtime` is open; `close` closes it, `cleanup`
 * removes everything.
 */
export async function tapeLibraryRuntime(options: TapeLibraryOptions): Promise<{ library: DiskChangerLibrary; runtime: LocalRuntime; home: string; work: string; cleanup: () => Promise<void> }> {
  const library = diskChangerLibrary({ slots: options.slots ?? 8, drives: options.drives ?? 1, barcodes: options.barcodes });
  const work = library.base;
  const home = join(work, 'home');
  const runtime = await openLocalRuntime({ home, ...(options.clock ? { clock: options.clock } : {}) });
  const { emm } = runtime;
  await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: options.capacityBytes ?? 256 * 1024 * 1024 }, AT);
  for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `d${index}`, robot: 'lib1', index, path, blockSize: BLOCK });
  await emm.addPool({ name: 'daily' });
  for (const [slot, mediaId] of Object.entries(options.barcodes)) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
  await runtime.config.putStorageUnit(
    StorageUnit.parse({
      name: 'tape1',
      kind: 'tape',
      robot: 'lib1',
      pool: 'daily',
      maxConcurrentJobs: options.drives ?? 1,
      index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') },
      mediaUnmountDelaySeconds: options.unmountDelaySeconds ?? 180,
      ...(options.fragmentSizeBytes ? { fragmentSizeBytes: options.fragmentSizeBytes } : {}),
    }),
  );
  await runtime.config.putSetting('resourceRetrySeconds', 1);
  return {
    library,
    runtime,
    home,
    work,
    cleanup: async () => {
      runtime.close();
      await library.cleanup();
    },
  };
}

/**
 * The library a tape image test (verify, restore rehearsal) backs up to: three
 * scratch volumes, one drive, no unmount delay, 1 MiB fragments, one backup
 * try; with `pieceBytes`, tape1 writes pieces of that size (small buffers, so
 * a piece spans several). Returns tapeLibraryRuntime's result and the
 * source directory's path (not made).
 */
export async function tapeImageLibrary(options: { capacityBytes?: number; pieceBytes?: number } = {}): Promise<Awaited<ReturnType<typeof tapeLibraryRuntime>> & { source: string }> {
  const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' }, drives: 1, unmountDelaySeconds: 0, fragmentSizeBytes: 1024 * 1024, ...(options.capacityBytes ? { capacityBytes: options.capacityBytes } : {}) });
  const { runtime } = made;
  if (options.pieceBytes) {
    const unit = (await runtime.config.getStorageUnit('tape1'))!;
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...unit, pieceBytes: options.pieceBytes }));
    await runtime.config.putSetting('buffers', { count: 8, sizeBytes: 64 * 1024 });
  }
  await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
  return { ...made, source: join(made.work, 'source') };
}

/** A full backup of `source` from host1 to `storageUnit`, which must end 0; the image it catalogued. */
export async function backupImage(runtime: LocalRuntime, source: string, storageUnit: string): Promise<Image> {
  const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit });
  expect(run.error).toBeUndefined();
  expect(run.statusCode).toBe(0);
  return (await runtime.catalog.getImage(run.backupId!))!;
}

/**
 * Restores `image` as `cairn restore` does, as a restore job
 * (local/restore-engine.ts: the real restore-job.asl.json, its drive and
 * volume reserved through the broker while mounted), and compares it with
 * `source` byte for byte: the job ends 0 with nothing left unrestored, and
 * nothing stays reserved.
 */
export async function restoreAndCompare(runtime: LocalRuntime, image: Image, source: string, target: string, options: { devices?: TapeDevices } = {}): Promise<RestoreRun> {
  const run = await runRestoreJob({ ...runtime, tapeDevices: options.devices ?? realTapeDevices }, { backupId: image.backupId, targetDir: target });
  expect(run.error, `image ${image.backupId}`).toBeUndefined();
  expect(run.statusCode, `image ${image.backupId}`).toBe(0);
  expect(run.job?.notRestored, `image ${image.backupId}`).toEqual([]);
  expect((await compareTrees(source, join(target, source))).differences, `image ${image.backupId}`).toEqual([]);
  expect(await runtime.media.listReservations()).toEqual([]);
  return run;
}

/**
 * What GNU tar lists of each fragment of `image`, read straight from its
 * volume's file (disk-changer's `slotN`) at the offset its catalogued
 * location gives: every fragment must be a tar archive of its own there.
 */
export async function gnuTarListFragments(runtime: LocalRuntime, library: DiskChangerLibrary, image: Image): Promise<string[]> {
  const names: string[] = [];
  for (const fragment of image.copies[0]!.fragments) {
    const location = fragment.location;
    if (location?.kind !== 'tape') throw new Error(`fragment ${fragment.number} of ${image.backupId} is not on tape`);
    const media = (await runtime.emm.getMedia(location.mediaId))!;
    const offset = fileTapeByteOffset({ fileNumber: location.fileNumber, block: location.blockOffset, blockSize: BLOCK });
    const records = Math.ceil(fragment.bytes / BLOCK) * BLOCK;
    names.push(...gnuTarList(readVolumeBytes(join(library.base, `slot${media.slot}`), offset, records)));
  }
  return names;
}
