import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runRestoreJob } from '#local/restore-engine.ts';
import { localDuplicateDeps } from '#local/duplicate-deps.ts';
import { duplicateImage } from '#agent/duplicate/duplicate-image.ts';
import { realTapeDevices } from '#agent/tape/mount.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { StatusCode } from '#core/status-codes.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { tapeLibraryRuntime } from './tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const MARKER = Buffer.from('cairn-job-fallback-marker-'.repeat(800));

/**
 * A restore job on its own falls back to the image's next copy on tape
 * (restore-job.asl.json's NextCopy, core `fallBackToNextCopy`): the real
 * ASL in process, Debian's disk-changer library, an image whose tape
 * primary (copy 1 on tape1) is corrupt on the volume, copy 2 on disk, copy
 * 3 on a second tape unit. The job's Read of copy 1 fails with 2001; the
 * job releases that drive, turns to copy 3, plans, reads it into the same
 * target with overwrite, and ends 0 with the tree byte for byte. A job of
 * copy 1 by name (bprestore -copy 1) does not fall back.
 */
describe.skipIf(Boolean(skip))(`a restore job falling back to the next tape copy${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('restores from copy 3 on tape2 when the primary on tape1 is corrupt, and says so on the job', async () => {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6' }, drives: 1, unmountDelaySeconds: 0 });
    ({ library, runtime, work } = made);
    cleanup = made.cleanup;
    await runtime.emm.addPool({ name: 'weekly' });
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1') }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape2', kind: 'tape', robot: 'lib1', pool: 'weekly', maxConcurrentJobs: 1, index: { name: 'tape2-index', kind: 'disk', path: join(work, 'index2') }, mediaUnmountDelaySeconds: 0 }),
    );
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    const source = join(work, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(source, 'sub', `f${i}.bin`), randomBytes(300 * 1024 + i));
    writeFileSync(join(source, 'marker.bin'), MARKER);

    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode).toBe(0);
    const backupId = run.backupId!;
    // Copy 2 on disk (a copy from tape to tape is not built), then copy 3 from it on the second tape unit.
    await duplicateImage(localDuplicateDeps(runtime), { backupId, to: 'disk1' });
    await duplicateImage(localDuplicateDeps(runtime), { backupId, to: 'tape2', fromCopy: 2 });
    const image = (await runtime.catalog.getImage(backupId))!;
    expect(image.copies.map((c) => [c.copyNumber, c.storageUnit])).toEqual([[1, 'tape1'], [2, 'disk1'], [3, 'tape2']]);
    // One byte of the primary's data flipped on its volume (disk-changer keeps a tape in its slot file).
    const slot = join(library.base, 'slot1');
    const bytes = readFileSync(slot);
    const at = bytes.indexOf(MARKER);
    expect(at).toBeGreaterThan(0);
    bytes[at + 5000] = bytes[at + 5000]! ^ 0x01;
    writeFileSync(slot, bytes);

    const deps = { ...runtime, tapeDevices: realTapeDevices };
    // By name, copy 1 alone: the job ends with the copy's failure.
    const named = await runRestoreJob(deps, { backupId, targetDir: join(work, 'named'), copyNumber: 1 });
    expect(named.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(named.job?.copyNumber).toBe(1);

    const target = join(work, 'restored');
    const restored = await runRestoreJob(deps, { backupId, targetDir: target });
    expect(restored.error).toBeUndefined();
    expect(restored.statusCode).toBe(0);
    expect(restored.job).toMatchObject({ copyNumber: 3, storageUnit: 'tape2', fallbackCopies: [], target: { existing: 'overwrite' } });
    expect(restored.job!.volumes.map((v) => [v.mediaId, v.read])).toEqual([['CRN002L6', true]]);
    expect(restored.job!.details?.map((d) => d.message)).toEqual([expect.stringMatching(/^copy 1 on tape1 failed with status 2001 \(.+\): restoring from copy 3 on tape2$/)]);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
  }, 180_000);
});
