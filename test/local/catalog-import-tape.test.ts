import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { asKind } from '#core/model/job.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { importImages } from '#local/catalog-import.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { realTapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { DISK_CHANGER, diskChangerSkipReason } from '../edge-agent/tape/disk-changer-library.ts';
import { AT, BLOCK, restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';

const skip = diskChangerSkipReason();

/**
 * bpimport of a tape unit: a new machine's catalog, empty, with the same
 * library inventoried (every volume scratch to it), imports the images from
 * the tape unit's index store. An image on a volume the media manager does
 * not know is skipped naming it; once the volume is added, the image is
 * imported, its volume leaves scratch for the unit's pool with its append
 * point past the image (so the next backup appends after it, never over
 * it), and the image restores byte for byte from tape.
 */
describe.skipIf(Boolean(skip))(`catalog import of a tape unit${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cleanup: (() => Promise<void>) | undefined;
  let fresh: LocalRuntime | undefined;
  afterEach(async () => {
    fresh?.close();
    await cleanup?.();
  });

  it('imports from the index store, protects the volumes it names, and the image restores from tape', async () => {
    const lib = await tapeLibraryRuntime({ barcodes: { 1: 'IMP001L6', 2: 'IMP002L6' } });
    cleanup = lib.cleanup;
    const source = join(lib.work, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    const first = await runBackupJob({ ...lib.runtime, tapeDevices: realTapeDevices }, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(first.statusCode, first.error).toBe(0);
    const original = (await lib.runtime.catalog.getImage(first.backupId!))!;
    const writtenVolume = (await lib.runtime.emm.getMedia('IMP001L6'))!;
    // What `--retention-days` would say on the new machine (no policy in its catalog): the volume then takes the next backup of that retention.
    const retentionDays = asKind(await lib.runtime.jobs.get(first.jobId!), 'backup')!.retentionDays;
    expect(writtenVolume).toMatchObject({ state: 'ACTIVE', pool: 'daily', images: [first.backupId] });
    // The drive keeps the volume loaded for its unmount delay: unloaded so the new machine's first mount finds the robot settled.
    await lib.library.changer.unload(1, 0);
    lib.runtime.close();

    // The new machine: the same library and the same unit (its index directory), the volumes known as scratch but one.
    mkdirSync(join(lib.work, 'home-new'), { recursive: true });
    fresh = await openLocalRuntime({ home: join(lib.work, 'home-new') });
    await fresh.emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: lib.library.changerDevice }, fileTapeCapacityBytes: 256 * 1024 * 1024 }, AT);
    await fresh.emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: lib.library.drives[0]!, blockSize: BLOCK });
    await fresh.emm.addPool({ name: 'daily' });
    await fresh.emm.addMedia(newMedia('IMP002L6', AT, { robot: 'lib1', slot: 2 }));
    const unit = StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(lib.work, 'index') } });
    await fresh.config.putStorageUnit(unit);
    await fresh.config.putSetting('resourceRetrySeconds', 1);
    const importNow = async () => importImages({ store: await openStorageUnit(unit), catalog: fresh!.catalog, config: fresh!.config, now: new Date(), emm: fresh!.emm }, unit, { retentionDays });

    const refused = await importNow();
    expect(refused.imported).toEqual([]);
    expect(refused.skipped).toEqual([{ folder: `images/host1/${first.backupId}/`, reason: expect.stringContaining('volume IMP001L6, which the media manager does not know') }]);
    expect(await fresh.catalog.getImage(first.backupId!)).toBeUndefined();

    await fresh.emm.addMedia(newMedia('IMP001L6', AT, { robot: 'lib1', slot: 1 }));
    expect((await fresh.emm.getMedia('IMP001L6'))!).toMatchObject({ pool: 'scratch', state: 'UNASSIGNED', tapeFiles: 0 });
    const imported = await importNow();
    expect(imported.imported.map((i) => i.backupId)).toEqual([first.backupId]);
    const image = (await fresh.catalog.getImage(first.backupId!))!;
    expect(image.copies).toEqual(original.copies);
    // Out of scratch, into the unit's pool, its append point past the image: exactly as the machine that wrote it had it.
    expect((await fresh.emm.getMedia('IMP001L6'))!).toMatchObject({ pool: 'daily', state: 'ACTIVE', images: [first.backupId], tapeFiles: writtenVolume.tapeFiles, bytesWritten: writtenVolume.bytesWritten, retentionDays: writtenVolume.retentionDays, expiresAt: writtenVolume.expiresAt });
    // A second import changes nothing: not the catalog, not the volume's counts.
    const again = await importNow();
    expect(again).toMatchObject({ imported: [], alreadyCatalogued: [first.backupId] });
    expect((await fresh.emm.getMedia('IMP001L6'))!.tapeFiles).toBe(writtenVolume.tapeFiles);

    await restoreAndCompare(fresh, image, source, join(lib.work, 'restored'));
    // The next backup on the new machine appends after the imported image, on the same volume.
    const next = await runBackupJob({ ...fresh, tapeDevices: realTapeDevices }, { client: 'host2', selections: [source], storageUnit: 'tape1' });
    expect(next.statusCode, next.error).toBe(0);
    const appended = (await fresh.catalog.getImage(next.backupId!))!;
    expect(appended.copies[0]!.fragments[0]!.location).toMatchObject({ kind: 'tape', mediaId: 'IMP001L6', fileNumber: writtenVolume.tapeFiles });
    await restoreAndCompare(fresh, image, source, join(lib.work, 'restored-after'));
  }, 120_000);
});
