import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn, type CliResult } from './cli-process.ts';

const root = '/tmp/i12-catalog-dr';

interface ListedImage {
  backupId: string;
  client: string;
  level: string;
  bytes: number;
  fileCount: number;
}

const summary = (images: ListedImage[]): Omit<ListedImage, 'client'>[] =>
  images.map((i) => ({ backupId: i.backupId, level: i.level, bytes: i.bytes, fileCount: i.fileCount })).sort((a, b) => a.backupId.localeCompare(b.backupId));

/**
 * The disaster-recovery done-when (issue 12): a full and an incremental of a
 * small tree on a disk unit outside $CAIRN_HOME, `catalog backup`, the home
 * deleted entirely, `catalog recover --dr-file` into a fresh home, the full
 * (the older image) restored byte for byte by the ordinary `cairn restore`;
 * and `catalog import --stu` into an empty catalog lists the same images.
 */
describe('catalog backup, disaster recovery and import', () => {
  const work = join(root, `cli-${process.pid}`);
  const home = join(work, 'home');
  const stu = join(work, 'stu');
  const source = join(work, 'source');
  const asOfFull = join(work, 'as-of-full');
  const offsite = join(work, 'offsite', 'catalog.dr.json');
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  let before: ListedImage[];
  let fullId: string;

  beforeAll(async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(source, 'docs'), { recursive: true });
    mkdirSync(stu, { recursive: true });
    writeFileSync(join(source, 'docs', 'a.txt'), 'alpha, as of the full\n');
    writeFileSync(join(source, 'docs', 'b.bin'), Buffer.alloc(200_000, 7));
    writeFileSync(join(source, 'c.txt'), 'charlie\n');
    writeFileSync(
      join(work, 'policy.yaml'),
      [
        'name: files',
        'storageUnit: dr-disk',
        'clients: [{ name: h1 }]',
        `selections: [${source}]`,
        'schedules:',
        '  - { name: full, type: full, retention: { days: 30 } }',
        '  - { name: incr, type: differential-incremental, retention: { days: 30 } }',
        '',
      ].join('\n'),
    );
    expect((await cairn('storage-unit', 'add', '--name', 'dr-disk', '--kind', 'disk', '--path', stu)).code).toBe(0);
    const applied = await cairn('policy', 'apply', '-f', join(work, 'policy.yaml'));
    expect(applied.code, applied.stderr).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('recovers the catalog from the DR file after $CAIRN_HOME is deleted, and restores the older image byte for byte', async () => {
    const full = await cairn('backup', '--client', 'h1', '--policy', 'files', '--schedule', 'full', '--json');
    expect(full.code, full.stderr).toBe(0);
    fullId = (JSON.parse(full.stdout) as { backupId: string }).backupId;
    cpSync(source, asOfFull, { recursive: true });
    await sleep(1100); // backup ids are by the second
    writeFileSync(join(source, 'docs', 'a.txt'), 'alpha, changed after the full\n');
    writeFileSync(join(source, 'd.txt'), 'delta, new\n');
    const incr = await cairn('backup', '--client', 'h1', '--policy', 'files', '--schedule', 'incr', '--json');
    expect(incr.code, incr.stderr).toBe(0);
    before = JSON.parse((await cairn('images', '--client', 'h1', '--json')).stdout) as ListedImage[];
    expect(before.map((i) => i.level).sort()).toEqual(['differential-incremental', 'full']);

    const backup = await cairn('catalog', 'backup', '--to', 'dr-disk', '--dr-file', offsite, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const taken = JSON.parse(backup.stdout) as { backupId: string; drFile: string };
    expect(taken.drFile).toBe(offsite);
    expect(statSync(offsite).mode & 0o077).toBe(0);
    const text = await cairn('catalog', 'backup', '--to', 'dr-disk').then(async (r) => (r.code === 0 ? r : (await sleep(1100), cairn('catalog', 'backup', '--to', 'dr-disk'))));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(new RegExp(`disaster-recovery file: ${home}/dr/cairn-catalog_\\d{10}\\.dr\\.json`));
    expect(text.stderr).toContain('keep a copy of the DR file off this machine');
    // The catalog image is an image like any: catalogued, and it verifies.
    const verified = await cairn('verify', '--backup-id', taken.backupId, '--json');
    expect(verified.code, verified.stderr).toBe(0);

    rmSync(home, { recursive: true, force: true });
    const recovered = await cairn('catalog', 'recover', '--dr-file', offsite, '--json');
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(JSON.parse(recovered.stdout)).toMatchObject({ backupId: taken.backupId, home });
    const after = JSON.parse((await cairn('images', '--json')).stdout) as ListedImage[];
    expect(summary(after.filter((i) => i.client === 'h1'))).toEqual(summary(before));
    // The catalog image is catalogued in the recovered catalog too: no orphan on the unit.
    expect(after.map((i) => i.backupId)).toContain(taken.backupId);

    const target = join(work, 'restored');
    const restore = await cairn('restore', '--backup-id', fullId, '--to', target, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    for (const file of ['docs/a.txt', 'docs/b.bin', 'c.txt']) expect(readFileSync(join(target, source, file)).equals(readFileSync(join(asOfFull, file))), file).toBe(true);
    expect(existsSync(join(target, source, 'd.txt'))).toBe(false);

    // A catalog with images is not replaced without --force.
    const again = await cairn('catalog', 'recover', '--dr-file', offsite, '--json');
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stdout)).toMatchObject({ statusCode: 20, message: expect.stringContaining('--force') });
    expect((await cairn('catalog', 'recover', '--dr-file', offsite, '--force', '--json')).code).toBe(0);
  }, 120_000);

  it('refuses a DR file whose catalog image was altered', async () => {
    const dr = JSON.parse(readFileSync(offsite, 'utf8')) as { catalogSha256: string };
    const forged = join(work, 'forged.dr.json');
    writeFileSync(forged, JSON.stringify({ ...dr, catalogSha256: '0'.repeat(64) }));
    const home2 = join(work, 'home-forged');
    const refused = await runCairn(home2, ['catalog', 'recover', '--dr-file', forged, '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ statusCode: 2001 });
    expect(existsSync(join(home2, 'cairn.db'))).toBe(false);
    const notDr = await runCairn(home2, ['catalog', 'recover', '--dr-file', join(work, 'policy.yaml'), '--json']);
    expect(JSON.parse(notDr.stdout)).toMatchObject({ statusCode: 20 });
  }, 60_000);

  it('imports the same image list from the storage unit alone, skips an incomplete folder, and a second import changes nothing', async () => {
    const home3 = join(work, 'home-import');
    const cairn3 = (...args: string[]): Promise<CliResult> => runCairn(home3, args);
    mkdirSync(join(stu, 'images', 'h1', 'h1_1000000000'), { recursive: true });
    writeFileSync(join(stu, 'images', 'h1', 'h1_1000000000', 'fragment-00001.tar'), Buffer.alloc(1024));
    expect((await cairn3('storage-unit', 'add', '--name', 'dr-disk', '--kind', 'disk', '--path', stu)).code).toBe(0);
    const imported = await cairn3('catalog', 'import', '--stu', 'dr-disk', '--json');
    expect(imported.code, imported.stderr).toBe(0);
    const outcome = JSON.parse(imported.stdout) as { imported: ListedImage[]; alreadyCatalogued: string[]; skipped: { folder: string; reason: string }[] };
    expect(outcome.skipped).toEqual([{ folder: 'images/h1/h1_1000000000/', reason: expect.stringContaining('no manifest') }]);
    const listed = JSON.parse((await cairn3('images', '--client', 'h1', '--json')).stdout) as ListedImage[];
    expect(summary(listed)).toEqual(summary(before));
    const second = JSON.parse((await cairn3('catalog', 'import', '--stu', 'dr-disk', '--json')).stdout) as typeof outcome;
    expect(second.imported).toEqual([]);
    expect(second.alreadyCatalogued.length).toBe(outcome.imported.length);
  }, 60_000);
  it('recovers with the unit mounted elsewhere (--unit-path): refused without it, and the recovered catalog defines the unit where it is now', async () => {
    const moved = join(work, 'stu-mounted-elsewhere');
    renameSync(stu, moved);
    const home4 = join(work, 'home-moved');
    const cairn4 = (...args: string[]): Promise<CliResult> => runCairn(home4, args);
    try {
      // Where the DR file says, the unit is gone: a precise refusal, and no catalog put in place.
      const lost = await cairn4('catalog', 'recover', '--dr-file', offsite, '--json');
      expect(lost.code).toBe(2);
      expect(JSON.parse(lost.stdout)).toMatchObject({ statusCode: 219, message: expect.stringContaining('give --unit-path DIR') });
      expect(existsSync(join(home4, 'cairn.db'))).toBe(false);
      // A path for the wrong kind of unit, and a relative path, are named.
      const wrongKind = JSON.parse((await cairn4('catalog', 'recover', '--dr-file', offsite, '--unit-bucket', 'replica-bucket', '--json')).stdout) as { statusCode: number; message: string };
      expect(wrongKind).toMatchObject({ statusCode: 20, message: expect.stringContaining('is a disk unit (give --unit-path)') });

      const recovered = await cairn4('catalog', 'recover', '--dr-file', offsite, '--unit-path', moved, '--json');
      expect(recovered.code, recovered.stderr).toBe(0);
      expect(JSON.parse(recovered.stdout)).toMatchObject({ relocatedUnit: { name: 'dr-disk', from: stu, to: moved } });
      const units = JSON.parse((await cairn4('storage-unit', 'list', '--json')).stdout) as { name: string; path?: string }[];
      expect(units.find((u) => u.name === 'dr-disk')?.path).toBe(moved);
      const target = join(work, 'restored-moved');
      const restore = await cairn4('restore', '--backup-id', fullId, '--to', target, '--json');
      expect(restore.code, restore.stderr).toBe(0);
      for (const file of ['docs/a.txt', 'docs/b.bin', 'c.txt']) expect(readFileSync(join(target, source, file)).equals(readFileSync(join(asOfFull, file))), file).toBe(true);
    } finally {
      renameSync(moved, stu);
    }
  }, 90_000);
});
