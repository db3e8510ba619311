import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { localDuplicateDeps } from '#local/duplicate-deps.ts';
import { duplicateImage } from '#agent/duplicate/duplicate-image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { copyOf, type Image } from '#core/model/image.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();

/**
 * `cairn duplicate` from a tape unit to another tape unit (standalone): one
 * drive reads the source volume, another writes the copy, both reserved
 * through the broker; Debian's disk-changer library with two drives, the
 * source a real tape backup. The target unit writes another pool (offsite).
 */
describe.skipIf(Boolean(skip))(`duplication from tape to tape${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setUp(drives: number): Promise<string> {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' }, drives, unmountDelaySeconds: 0, fragmentSizeBytes: 1024 * 1024 });
    ({ library, runtime, cleanup, work } = made);
    await runtime.emm.addPool({ name: 'offsite' });
    const tape1 = (await runtime.config.getStorageUnit('tape1'))!;
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...tape1, name: 'tape2', pool: 'offsite', index: { name: 'tape2-index', kind: 'disk', path: join(work, 'index2') } }));
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    return join(work, 'source');
  }

  async function expectReleased(drives: number): Promise<void> {
    expect(await runtime.media.listReservations()).toEqual([]);
    for (let d = 0; d < drives; d++) {
      expect(await library.changer.loaded(d)).toMatchObject({ full: false });
      expect((await runtime.emm.getDrive(`d${d}`))?.loaded).toBeUndefined();
    }
    const holders = join(runtime.home, 'holders');
    expect(existsSync(holders) ? readdirSync(holders) : []).toEqual([]);
  }

  const volumesOf = (image: Image, copyNumber: number): string[] => [...new Set(copyOf(image, copyNumber)!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];

  it('copies a tape image to another tape unit through two drives; the copy alone restores byte for byte and verifies; everything is released', async () => {
    const source = await setUp(2);
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode, run.error).toBe(0);
    const image = (await runtime.catalog.getImage(run.backupId!))!;
    const [sourceVolume] = volumesOf(image, 1);

    const drives: string[] = [];
    const result = await duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape2', onDrive: (drive) => drives.push(drive) });
    // Both drives are told, the reading one first (what a duplicate job records as its drives).
    expect(drives).toHaveLength(2);
    expect(new Set(drives).size).toBe(2);
    expect(result).toMatchObject({ copyNumber: 2, storageUnit: 'tape2', fromCopy: 1 });
    await expectReleased(2);
    const stored = (await runtime.catalog.getImage(image.backupId))!;
    const written = volumesOf(stored, 2);
    expect(written).toEqual(result.volumes);
    expect(written).not.toContain(sourceVolume);
    expect(await runtime.emm.getMedia(written[0]!)).toMatchObject({ pool: 'offsite', images: [image.backupId] });
    expect(copyOf(stored, 2)!.fragments.map((f) => [f.number, f.bytes, f.sha256])).toEqual(copyOf(image, 1)!.fragments.map((f) => [f.number, f.bytes, f.sha256]));

    // The source copy gone from the record: the restore and verify jobs read the new copy on tape2.
    await runtime.catalog.updateImage(image.backupId, (i) => ({ ...i, copies: i.copies.filter((c) => c.copyNumber !== 1) }));
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(image.backupId))!, source, join(work, 'restored'));
    const verified = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(verified.statusCode, verified.error).toBe(0);
    await expectReleased(2);
  });

  it('refuses (20) before reserving anything when the robot has one drive, or the target writes the source pool', async () => {
    const source = await setUp(1);
    makeSampleTree(source, { largeBytes: 256 * 1024 });
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode, run.error).toBe(0);
    const deps = localDuplicateDeps(runtime);
    await expect(duplicateImage(deps, { backupId: run.backupId!, to: 'tape2' })).rejects.toThrow(/reads through one drive and writes through another, and robot lib1 has 1 drive/);
    const tape2 = (await runtime.config.getStorageUnit('tape2'))!;
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...tape2, pool: 'daily' }));
    await expect(duplicateImage(deps, { backupId: run.backupId!, to: 'tape2' })).rejects.toMatchObject({ statusCode: 20, message: expect.stringContaining('writes to the pool its source volumes are in (daily)') as string });
    await expectReleased(1);
  });
});
