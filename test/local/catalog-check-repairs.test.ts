import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCatalogCheck } from '#core/catalog/catalog-check.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { Image } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { localCatalogCheck, type CatalogCheckRuntime } from '#cli/catalog-check-deps.ts';
import { claimAndCommit, sampleImage } from '../contracts/fixtures.ts';
import { forgeImage } from '../edge-agent/forge.ts';

const root = '/tmp/i12-catalog-check';
const DAY = 86_400_000;

/**
 * The repairs the done-when test does not reach, on a standalone home:
 * an expiration left half done is finished by the expiration executor, a
 * volume listing an image the catalog lost is corrected (a claimed one is
 * kept), a young orphan is left for later, and an orphan whose image is
 * committed between the check and the deletion is not deleted.
 */
describe('catalog check repairs (standalone)', () => {
  const home = join(root, `repairs-${process.pid}`);
  let runtime: CatalogCheckRuntime;
  let store: ObjectStore;
  let disk: string;

  beforeEach(async () => {
    rmSync(home, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    runtime = await localCatalogCheck({ home });
    const unit = (await runtime.deps.config.getStorageUnit('local-disk'))!;
    if (unit.kind !== 'disk') throw new Error('the default unit is a disk unit');
    disk = unit.path;
    store = await openStorageUnit(unit);
  });
  afterEach(() => {
    runtime.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function imageOnDisk(client: string, at: Date, objects = true): Promise<Image> {
    const image = sampleImage(client, at, { storageUnit: 'local-disk' });
    if (objects) for (const name of ['fragment-00001.tar', 'index.ndjson.gz', 'manifest.json']) await store.put(`images/${client}/${image.backupId}/${name}`, Buffer.alloc(10240));
    return image;
  }
  const age = (key: string, days: number): void => {
    const t = new Date(Date.now() - days * DAY);
    utimesSync(join(disk, key), t, t);
  };

  it('finishes a half-done expiration and corrects a volume’s image list, keeping a claimed image on it', async () => {
    const { deps } = runtime;
    const expiring = await imageOnDisk('x1', new Date('2026-10-01T00:00:00Z'));
    await claimAndCommit(deps.catalog, expiring);
    await deps.catalog.updateImage(expiring.backupId, (i) => ({ ...i, state: 'EXPIRED' }));
    const staged = sampleImage('s1', new Date('2026-11-30T00:00:00Z'), { storageUnit: 'local-disk' });
    await deps.catalog.claimBackupId({ backupId: staged.backupId, jobId: 77, client: 's1', storageUnit: 'local-disk', claimedAt: new Date().toISOString() });
    await deps.emm!.addPool({ name: 'p1' });
    await deps.emm!.addMedia({ ...newMedia('V00001', new Date(), { pool: 'p1' }), state: 'ACTIVE', tapeFiles: 3, bytesWritten: 100, images: ['lost_1700000000', staged.backupId] });

    const check = await runCatalogCheck(deps, new Date(), { repair: false });
    expect(check.findings.map((f) => `${f.kind} ${f.subject}`).sort()).toEqual([`half-expired-image image ${expiring.backupId}`, 'volume-lists-unknown-image volume V00001']);

    const repair = await runCatalogCheck(deps, new Date(), { repair: true });
    expect(repair.unrepaired).toEqual([]);
    expect(repair.changes).toEqual([
      { subject: 'volume V00001', change: 'image lost_1700000000 taken off its list' },
      { subject: `image ${expiring.backupId}`, change: 'expiration finished: 3 objects (30720 bytes) deleted, record removed' },
    ]);
    expect(await deps.catalog.getImage(expiring.backupId)).toBeUndefined();
    expect(await store.list(`images/x1/`)).toEqual([]);
    expect((await deps.emm!.getMedia('V00001'))?.images).toEqual([staged.backupId]);
    expect((await runCatalogCheck(deps, new Date(), { repair: false })).findings).toEqual([]);
  });

  it('leaves a young orphan for a later repair, and deletes an old one only while nothing owns it', async () => {
    const { deps } = runtime;
    await store.put('images/y1/y1_1700000000/fragment-00001.tar', Buffer.alloc(5));
    // A real manifest and index, so the image checks out once catalogued.
    const forged = await forgeImage(store, 'late_1795400000', [{ name: 'a.txt', content: 'late' }]);
    const late: Image = { ...forged, copies: [{ ...forged.copies[0]!, storageUnit: 'local-disk' }] };
    for (const key of await store.list('images/late/')) age(key, 3);
    // The image is committed after the check read the catalog and before the repair deletes its "orphans".
    const listImages = deps.catalog.listImages.bind(deps.catalog);
    let reads = 0;
    deps.catalog.listImages = async (query) => {
      reads += 1;
      if (reads === 2) await claimAndCommit(deps.catalog, late);
      return listImages(query);
    };
    const repair = await runCatalogCheck(deps, new Date(), { repair: true });
    deps.catalog.listImages = listImages;
    const orphans = repair.findings.filter((f) => f.kind === 'orphan-object').map((f) => f.subject).sort();
    expect(orphans).toEqual([...(await store.list('images/late/')).map((k) => `local-disk:${k}`), 'local-disk:images/y1/y1_1700000000/fragment-00001.tar'].sort());
    expect(repair.changes).toEqual([]);
    expect(repair.unrepaired.length).toBe(4);
    expect(existsSync(join(disk, 'images/y1/y1_1700000000/fragment-00001.tar'))).toBe(true);
    expect(await store.list(`images/late/${late.backupId}/`)).toHaveLength(3);

    // Past the grace period the lone orphan goes; the committed image's objects are its own now.
    const later = await runCatalogCheck(deps, new Date(Date.now() + 2 * DAY), { repair: true });
    expect(later.changes).toEqual([{ subject: 'local-disk:images/y1/y1_1700000000/fragment-00001.tar', change: 'deleted (5 bytes)' }]);
    expect(later.unrepaired).toEqual([]);
  });
});
