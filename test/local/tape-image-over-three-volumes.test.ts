import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runRestoreJob } from '#local/restore-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { realTapeDevices } from '#agent/tape/mount.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { gnuTarList, readVolumeBytes } from '../edge-agent/tape/tape-shelf.ts';

const skip = diskChangerSkipReason();
const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');
const BARCODES: Record<number, string> = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [i + 1, `CRN00${i + 1}L6`]));
/** 8 MiB volumes: three hold 24 MiB, and the image is bigger than that. */
const CAPACITY = 8 * MiB;

/**
 * The issue's done-when, end to end through both state machines: an image
 * larger than three volumes (one file bigger than a whole volume among small
 * ones) written by a backup job that spans volumes, every fragment listed by
 * GNU tar read straight from its volume file at its recorded offset, and the
 * image restored byte for byte by a restore job that mounts each volume in
 * turn (the big file's pieces joined across its Reads).
 */
describe.skipIf(Boolean(skip))(`an image larger than three volumes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  it('is written by one backup job over four volumes and more, listed by GNU tar fragment by fragment, and restored byte for byte by a restore job', async () => {
    library = diskChangerLibrary({ slots: 9, drives: 2, barcodes: BARCODES });
    const work = library.base;
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: CAPACITY }, AT);
    await emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: library.drives[0]!, blockSize: BLOCK });
    await emm.addDrive({ name: 'd1', robot: 'lib1', index: 1, path: library.drives[1]!, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [slot, mediaId] of Object.entries(BARCODES)) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') }, mediaUnmountDelaySeconds: 0, pieceBytes: MiB }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    await runtime.config.putSetting('buffers', { count: 8, sizeBytes: 64 * 1024 });

    const source = join(work, 'source');
    mkdirSync(join(source, 'small'), { recursive: true });
    for (let i = 0; i < 30; i++) writeFileSync(join(source, 'small', `f${i}`), randomBytes(90 * 1024 + i));
    const bigBytes = 3 * CAPACITY + 3 * MiB + 7;
    writeFileSync(join(source, 'bigger-than-three-volumes.bin'), randomBytes(bigBytes));
    writeFileSync(join(source, 'zz-after.txt'), 'after the big file\n');

    const backup = await runBackupJob({ ...runtime, tapeDevices: realTapeDevices }, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(backup.error).toBeUndefined();
    expect(backup.statusCode).toBe(0);
    const image = (await runtime.catalog.getImage(backup.backupId!))!;
    expect(image.bytes).toBeGreaterThan(3 * CAPACITY);
    const fragments = image.copies[0]!.fragments;
    const volumes = [...new Set(fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : 'not tape')))];
    expect(volumes.length).toBeGreaterThanOrEqual(4);
    expect(volumes).toEqual(Object.values(BARCODES).slice(0, volumes.length));

    // Every fragment, read from its volume file at its recorded block, is a tar archive GNU tar lists; the big file is there as its pieces.
    const members: string[] = [];
    for (const fragment of fragments) {
      if (fragment.location.kind !== 'tape') throw new Error('a fragment not on tape');
      const { mediaId, fileNumber, blockOffset } = fragment.location;
      const slot = Object.entries(BARCODES).find(([, id]) => id === mediaId)![0];
      const offset = fileTapeByteOffset({ fileNumber, block: blockOffset, blockSize: BLOCK });
      members.push(...gnuTarList(readVolumeBytes(join(work, `slot${slot}`), offset, Math.ceil(fragment.bytes / BLOCK) * BLOCK)));
    }
    const pieces = members.filter((m) => m.includes('/GNUFileParts/bigger-than-three-volumes.bin.'));
    expect(pieces).toHaveLength(Math.ceil(bigBytes / MiB));
    expect(members.filter((m) => m.includes('/small/f'))).toHaveLength(30);

    const target = join(work, 'restore');
    const restore = await runRestoreJob({ ...runtime, tapeDevices: realTapeDevices }, { backupId: image.backupId, targetDir: target });
    expect(restore.error).toBeUndefined();
    expect(restore.statusCode).toBe(0);
    expect(restore.job?.volumes?.map((v) => v.mediaId)).toEqual(volumes);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    // No partial file of the joined pieces is left behind.
    expect(readdirSync(join(target, source)).filter((n) => n.startsWith('.cairn-'))).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
  });
});
