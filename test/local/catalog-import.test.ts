import { cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import type { Image } from '#core/model/image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { commitCompleteClaims, importImages } from '#local/catalog-import.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { backupTask, catalogImage, recordingReporter } from '../edge-agent/helpers.ts';

const root = '/tmp/i12-catalog-dr';

/** bpimport: catalog rows from a storage unit's manifests alone, and only from complete, consistent images. */
describe('catalog import', () => {
  const work = join(root, `import-${process.pid}`);
  const unitPath = join(work, 'stu');
  let rt: LocalRuntime;
  let expected: Image;

  beforeAll(async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'src'), { recursive: true });
    mkdirSync(unitPath, { recursive: true });
    writeFileSync(join(work, 'src', 'a.txt'), 'alpha\n');
    writeFileSync(join(work, 'src', 'b.bin'), Buffer.alloc(50_000, 3));
    const store = new FsObjectStore(unitPath);
    for (const backupId of ['host1_1700000000', 'host1_1700000100', 'host1_1700000200']) {
      const task = backupTask(unitPath, [join(work, 'src')], { backupId });
      const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
      if (backupId === 'host1_1700000000') expected = catalogImage(task, result);
    }
    // One byte of one index flipped; one fragment cut short; a good image's folder copied under another id.
    const index = join(unitPath, 'images/host1/host1_1700000100/index.ndjson.gz');
    const bytes = readFileSync(index);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
    writeFileSync(index, bytes);
    truncateSync(join(unitPath, 'images/host1/host1_1700000200/fragment-00001.tar'), 1024);
    cpSync(join(unitPath, 'images/host1/host1_1700000000'), join(unitPath, 'images/host1/host1_1700000300'), { recursive: true });
    rt = await openLocalRuntime({ home: join(work, 'home') });
  });
  afterAll(() => {
    rt?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('catalogs the complete image as the Catalog step recorded it, skips and names every inconsistent folder, and is idempotent', async () => {
    const unit = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: unitPath });
    const deps = { store: new FsObjectStore(unitPath), catalog: rt.catalog, config: rt.config, now: new Date() };
    const first = await importImages(deps, unit);
    expect(first.imported).toEqual([expected]);
    expect(await rt.catalog.getImage('host1_1700000000')).toEqual(expected);
    expect(first.skipped).toEqual([
      { folder: 'images/host1/host1_1700000100/', reason: 'images/host1/host1_1700000100/: its index images/host1/host1_1700000100/index.ndjson.gz does not have the sha256 its manifest says' },
      { folder: 'images/host1/host1_1700000200/', reason: expect.stringMatching(/^images\/host1\/host1_1700000200\/: fragment 1 \(images\/host1\/host1_1700000200\/fragment-00001\.tar\) has 1024 bytes, its manifest says \d+$/) },
      { folder: 'images/host1/host1_1700000300/', reason: 'images/host1/host1_1700000300/: the manifest is of image host1_1700000000 of client host1' },
    ]);
    const second = await importImages(deps, unit);
    expect(second.imported).toEqual([]);
    expect(second.alreadyCatalogued).toEqual(['host1_1700000000']);
  }, 60_000);

  it('after a recovery, commits the complete image of a backup that was running at the catalog copy, and leaves other claims to the janitor', async () => {
    const fresh = await openLocalRuntime({ home: join(work, 'home-claims') });
    try {
      await fresh.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: unitPath }));
      const claim = (backupId: string, jobId: number) => fresh.catalog.claimBackupId({ backupId, jobId, client: 'host1', storageUnit: 'disk1', claimedAt: new Date().toISOString() });
      expect(await claim('host1_1700000000', 7)).toBe(true); // complete, by this job
      expect(await claim('host1_1700000200', 7)).toBe(true); // a fragment cut short
      expect(await claim('host1_1700000400', 9)).toBe(true); // nothing written
      const outcome = await commitCompleteClaims({ catalog: fresh.catalog, config: fresh.config, openStore: openStorageUnit });
      expect(outcome.committed).toEqual(['host1_1700000000']);
      expect(outcome.problems).toEqual([expect.stringMatching(/^claim host1_1700000200 of job 7: .*fragment 1 .* has 1024 bytes/)]);
      expect(await fresh.catalog.getImage('host1_1700000000')).toEqual(expected);
      expect((await fresh.catalog.listClaims()).map((c) => c.backupId).sort()).toEqual(['host1_1700000200', 'host1_1700000400']);
    } finally {
      fresh.close();
    }
  }, 60_000);
});
