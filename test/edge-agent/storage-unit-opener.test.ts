import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { CairnError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, recordingReporter, tempDir } from './helpers.ts';
import { primaryCopy } from '#core/model/image.ts';

/**
 * The agent opens storage only through the opener its entry point hands it
 * (core/ports/storage-unit-opener.ts): an incremental reads its base image's
 * index through `deps.openStore`, and an agent given no opener cannot.
 */
describe('the storage-unit opener the agent is given', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let full: Image;

  beforeEach(async () => {
    source = tempDir('src');
    unit = tempDir('unit');
    writeFileSync(path.join(source.dir, 'a.txt'), 'a'.repeat(100_000));
    const task = backupTask(unit.dir, [source.dir]);
    full = catalogImage(task, await runBackup(task, { store: new FsObjectStore(unit.dir), reporter: recordingReporter(), now: () => new Date() }));
    writeFileSync(path.join(source.dir, 'b.txt'), 'b\n');
  });

  afterEach(() => {
    source.cleanup();
    unit.cleanup();
  });

  const incremental = () =>
    backupTask(unit.dir, [source.dir], {
      backupId: 'host1_1700003600',
      level: 'differential-incremental',
      base: { backupId: full.backupId, indexKey: primaryCopy(full).indexKey, indexSha256: primaryCopy(full).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 1024 * 1024 } },
    });

  it("reads an incremental's base index through the opener, from the base's storage unit", async () => {
    const opened: StorageUnit[] = [];
    const store = new FsObjectStore(unit.dir);
    const result = await runBackup(incremental(), {
      store,
      openStore: async (u) => (opened.push(u), new FsObjectStore(u.kind === 'disk' ? u.path : '')),
      reporter: recordingReporter(),
      now: () => new Date(),
    });
    expect(opened.map((u) => u.name)).toEqual(['disk1']);
    // Only b.txt is packed: the unchanged 100 kB a.txt was recognised from the base's index.
    expect(result.statusCode).toBe(0);
    expect(result.bytes).toBeLessThan(50_000);
    expect(full.bytes).toBeGreaterThanOrEqual(100_000);
  });

  it('fails an incremental with status 2000 naming the missing opener, and leaves nothing of the image', async () => {
    const store = new FsObjectStore(unit.dir);
    const failure = await runBackup(incremental(), { store, reporter: recordingReporter(), now: () => new Date() }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.INTERNAL_ERROR);
    expect((failure as CairnError).message).toMatch(/base image host1_1700000000: no storage-unit opener was given to the agent/);
    expect((await store.list('images/host1/host1_1700003600/'))).toEqual([]);
  });
});
