import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runBackupJob } from '#local/job-engine.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { runExpiration } from '#core/catalog/expire-images.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';
import { diskChangerSkipReason } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const DAY = 86_400_000;

/**
 * Expiration on real tape: a backup to Debian's disk-changer library (file
 * tapes), expired, its volume returned to scratch by the media manager, and
 * the same volume taken from scratch and written again by the next backup,
 * which restores byte for byte.
 */
describe.skipIf(Boolean(skip))(`expiring a tape image${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('returns its only volume to scratch, and the next backup writes that volume again', { timeout: 180_000 }, async () => {
    const lib = await tapeLibraryRuntime({ barcodes: { 1: 'EXP001L6' }, unmountDelaySeconds: 0 });
    cleanup = lib.cleanup;
    const { runtime, work } = lib;
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 256 * 1024 });

    const first = await runBackupJob(runtime, { client: 'tapehost', selections: [source], storageUnit: 'tape1', retentionDays: 1 });
    expect(first.statusCode).toBe(0);
    const image = (await runtime.catalog.getImage(first.backupId!))!;
    expect(await runtime.emm.getMedia('EXP001L6')).toMatchObject({ pool: 'daily', state: 'ACTIVE', images: [image.backupId] });
    const indexFolder = join(work, 'index', 'images', 'tapehost', image.backupId);
    expect(existsSync(indexFolder)).toBe(true);

    // A day past its retention.
    const deps = { catalog: runtime.catalog, config: runtime.config, jobs: runtime.jobs, media: runtime.media, emm: runtime.emm, openStorageUnit };
    const run = await runExpiration(deps, new Date(Date.parse(image.expiresAt) + DAY));
    expect(run).toMatchObject({ expired: [{ backupId: image.backupId, volumes: ['EXP001L6'] }], recycled: [{ mediaId: 'EXP001L6', fromPool: 'daily' }], problems: [] });
    expect(await runtime.catalog.getImage(image.backupId)).toBeUndefined();
    expect(readdirSync(join(work, 'index', 'images', 'tapehost'))).toEqual([]);
    expect(await runtime.emm.getMedia('EXP001L6')).toMatchObject({ pool: 'scratch', state: 'UNASSIGNED', images: [], tapeFiles: 0, bytesWritten: 0 });

    // The recycled volume is the library's only one: the next backup takes it from scratch, finds its own label and writes from file 1.
    const second = await runBackupJob(runtime, { client: 'tapehost', selections: [source], storageUnit: 'tape1' });
    expect(second.statusCode).toBe(0);
    const again = (await runtime.catalog.getImage(second.backupId!))!;
    expect(again.copies[0]!.fragments.map((f) => f.location)).toEqual([expect.objectContaining({ kind: 'tape', mediaId: 'EXP001L6', fileNumber: 1 })]);
    expect(await runtime.emm.getMedia('EXP001L6')).toMatchObject({ pool: 'daily', state: 'ACTIVE', images: [again.backupId], tapeFiles: 2 });
    await restoreAndCompare(runtime, again, source, join(work, 'restored'));
  });
});
