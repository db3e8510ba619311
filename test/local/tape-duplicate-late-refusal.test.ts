import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { localDuplicateDeps } from '#local/duplicate-deps.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { duplicateImage, type DuplicateResult } from '#agent/duplicate/duplicate-image.ts';
import { runExpiration } from '#core/catalog/expire-images.ts';
import { runCatalogCheck } from '#core/catalog/catalog-check.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { copyOf, type Image } from '#core/model/image.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { localCatalogCheckDeps } from '#cli/catalog-check-deps.ts';
import { tapeLibraryRuntime } from './tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();

/**
 * A copy to tape counts its writes on its volumes (the image listed there)
 * before the catalog's compare-and-set; when that commit then does not take
 * the copy (the image being expired meanwhile, or a concurrent run's copy on
 * the unit committed first), the image leaves those volumes' lists again, so
 * no volume keeps an image whose copy the catalog does not have: the volume
 * returns to scratch when nothing else is on it, and the catalog check
 * finds nothing. Debian's disk-changer library, the standalone runtime.
 */
describe.skipIf(Boolean(skip))(`a copy to tape the catalog refuses late${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setUp(drives: number): Promise<Image> {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' }, drives, unmountDelaySeconds: 0 });
    ({ library, runtime, cleanup, work } = made);
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1'), fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 512 * 1024 });
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    return (await runtime.catalog.getImage(run.backupId!))!;
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

  async function checkFindings(): Promise<string[]> {
    const report = await runCatalogCheck(localCatalogCheckDeps(runtime), runtime.clock.now(), { repair: false, graceSeconds: 0 });
    return report.findings.map((f) => `${f.kind}: ${f.detail}`);
  }

  it('an image being expired when the copy is catalogued: refused (20), the volume lists nothing, keeps its append point, returns to scratch once the image is gone; the check finds nothing', async () => {
    const image = await setUp(1);
    let marked = false;
    const deps = localDuplicateDeps(runtime);
    const refused = duplicateImage(deps, {
      backupId: image.backupId,
      to: 'tape1',
      onProgress: (p) => {
        // The read-back starts after the writes: an operator's expiration lands now, before the writes are counted and the copy catalogued.
        if (p.current !== 'verifying' || marked) return;
        marked = true;
        void runtime.catalog.updateImage(image.backupId, (i) => ({ ...i, state: 'EXPIRED', expiresAt: '2026-01-01T00:00:00.000Z' }));
      },
    });
    await expect(refused).rejects.toMatchObject({ statusCode: 20 });
    await expect(refused).rejects.toThrow(/being expired .*no longer list the image.*were deleted/);
    await expectReleased(1);
    const volume = (await runtime.emm.getMedia('CRN001L6'))!;
    // The copy's tape files stay counted (nothing writes over them while this runs), the image is not on the list.
    expect(volume.images).toEqual([]);
    expect(volume.tapeFiles).toBeGreaterThan(1);
    expect((await runtime.catalog.getImage(image.backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);

    // The expiration the operator began finishes: the image leaves the catalog, and the emptied volume returns to scratch.
    const expired = await runExpiration({ catalog: runtime.catalog, config: runtime.config, jobs: runtime.jobs, media: runtime.media, emm: runtime.emm, openStorageUnit }, runtime.clock.now());
    expect(expired.problems).toEqual([]);
    expect(expired.expired.map((e) => e.backupId)).toEqual([image.backupId]);
    expect(expired.recycled.map((r) => r.mediaId)).toEqual(['CRN001L6']);
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ state: 'UNASSIGNED', pool: 'scratch', images: [], tapeFiles: 0 });
    expect(await checkFindings()).toEqual([]);
  });

  it('two runs of one duplicate at once on two drives: one copy catalogued, the other run reports it present and its volume lists nothing; the catalogued copy verifies from tape', async () => {
    const image = await setUp(2);
    const runs = await Promise.all([duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape1' }), duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape1' })]);
    await expectReleased(2);
    const stored = (await runtime.catalog.getImage(image.backupId))!;
    expect(stored.copies.map((c) => c.copyNumber)).toEqual([1, 2]);
    const copy = copyOf(stored, 2)!;
    const onTape = [...new Set(copy.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];
    const winner = runs.find((r) => !r.alreadyPresent)!;
    const loser = runs.find((r) => r.alreadyPresent)! as DuplicateResult | undefined;
    expect(winner).toMatchObject({ copyNumber: 2, volumes: onTape });
    // Both wrote (two drives, two volumes): the run that lost the compare-and-set names the catalogued copy and its volume.
    expect(loser).toMatchObject({ copyNumber: 2, alreadyPresent: true, volumes: onTape });
    const volumes = await Promise.all(['CRN001L6', 'CRN002L6', 'CRN003L6'].map(async (id) => (await runtime.emm.getMedia(id))!));
    const written = volumes.filter((v) => v.tapeFiles > 0);
    expect(written).toHaveLength(2);
    for (const v of written) expect(v.images).toEqual(onTape.includes(v.mediaId) ? [image.backupId] : []);
    expect(await checkFindings()).toEqual([]);

    // The index storage's manifest is the catalogued copy's (whichever run wrote it last): the tape copy, alone, verifies.
    await runtime.catalog.updateImage(image.backupId, (i) => ({ ...i, copies: i.copies.filter((c) => c.copyNumber !== 1) }));
    const verified = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(verified.error).toBeUndefined();
    expect(verified.statusCode).toBe(0);
    await expectReleased(2);
  });
});
