import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { backupLocalCatalog } from '#local/catalog-backup.ts';
import type { CatalogBackupOutcome } from '#agent/catalog/catalog-image.ts';
import { readDrFile, recoverLocalCatalog } from '#local/catalog-recover.ts';
import { openLocalRuntime } from '#local/runtime.ts';

const root = '/tmp/i12-catalog-dr';

/** Recovery trusts nothing it has not checked against the DR file, and puts nothing in place that failed a check. */
describe('catalog recovery refusals', () => {
  const work = join(root, `recover-${process.pid}`);
  const stu = join(work, 'stu');
  let taken: CatalogBackupOutcome;
  const fragment = (): string => join(stu, `images/cairn-catalog/${taken.image.backupId}/fragment-00001.tar`);
  const statusOf = async (promise: Promise<unknown>): Promise<number | undefined> => promise.then(() => undefined, (error: unknown) => (error instanceof CairnError ? error.statusCode : -1));

  beforeAll(async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(stu, { recursive: true });
    const clock = new FakeClock(new Date());
    const rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    try {
      await rt.config.putStorageUnit(StorageUnit.parse({ name: 'offsite', kind: 'disk', path: stu, compression: { codec: 'zstd' } }));
      // A copy a killed catalog backup left two hours ago goes; the backup's own copy goes when it ends.
      mkdirSync(join(work, 'home', 'catalog-backup', `cairn-catalog_${Math.floor(clock.now().getTime() / 1000) - 7200}`), { recursive: true });
      taken = await backupLocalCatalog(rt, { storageUnit: 'offsite' });
    } finally {
      rt.close();
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes a plain tar catalog image on a compressing unit, leaves no copy behind, and its DR file reads back', async () => {
    expect(taken.image.copies[0]!.fragments.map((f) => f.encoding)).toEqual([undefined]);
    expect(existsSync(fragment())).toBe(true);
    expect(await readDrFile(taken.drFile)).toEqual(taken.dr);
    expect(readdirSync(join(work, 'home', 'catalog-backup'))).toEqual([]);
  });

  it('refuses a flipped byte in the catalog copy, a cut fragment and a changed manifest, with 2001 and no database put in place', async () => {
    const home = join(work, 'new-home');
    const original = readFileSync(fragment());
    try {
      const flipped = Buffer.from(original);
      flipped[2048] = flipped[2048]! ^ 0x01; // inside the database member's data (after its headers)
      writeFileSync(fragment(), flipped);
      expect(await statusOf(recoverLocalCatalog({ drFile: taken.drFile, home }))).toBe(2001);
      writeFileSync(fragment(), original);
      truncateSync(fragment(), 3000);
      expect(await statusOf(recoverLocalCatalog({ drFile: taken.drFile, home }))).toBe(2001);
      writeFileSync(fragment(), original);
      const manifest = join(stu, taken.dr.manifestKey);
      const text = readFileSync(manifest, 'utf8');
      writeFileSync(manifest, text.replace('"statusCode": 0', '"statusCode": 1'));
      expect(await statusOf(recoverLocalCatalog({ drFile: taken.drFile, home }))).toBe(2001);
      writeFileSync(manifest, text);
      expect(existsSync(join(home, 'cairn.db'))).toBe(false);
    } finally {
      writeFileSync(fragment(), original);
    }
    writeFileSync(join(home, 'cairn.db.recovering-999999'), 'what a killed recovery left');
    const recovered = await recoverLocalCatalog({ drFile: taken.drFile, home });
    expect(readdirSync(home).filter((n) => n.includes('recovering'))).toEqual([]);
    expect(recovered).toMatchObject({ backupId: taken.image.backupId, images: 1, committedClaims: [] });
  }, 60_000);
});
