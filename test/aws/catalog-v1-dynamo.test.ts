import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { IMAGE_RECORD_VERSION } from '#core/catalog/image-versions.ts';
import type { Image } from '#core/model/image.ts';
import { ConflictError } from '#core/errors.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { sampleImage, claimAndCommit } from '#test/contracts/fixtures.ts';
import { copyV1Home, expectedTree, treeDigest, v1DynamoItems, V1_FULL, V1_INCREMENTAL, V1_SOURCE } from '#test/fixtures/catalog-v1.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const clients = 'endpoint' in emulator ? emulatorClients(emulator.endpoint) : undefined;
afterAll(async () => {
  clients?.destroy();
  if ('stop' in emulator) await emulator.stop();
});

/** Catalog items written by the DynamoCatalogStore before images had copies, read by today's. */
describe.skipIf(Boolean(skip))(`a DynamoDB catalog written before images had copies${skip ? ` (skipped: ${skip})` : ''}`, () => {
  /** A fresh Catalog table holding exactly the v1 items, and a copy of the fixture's disk storage unit. */
  async function v1Catalog(): Promise<{ catalog: DynamoCatalogStore; table: string; store: FsObjectStore; work: string; cleanup: () => Promise<void> }> {
    const prefix = `cairn-v1-${randomUUID().slice(0, 8)}`;
    const names = await createTables(clients!.dynamodb, prefix);
    for (const item of v1DynamoItems()) await clients!.documents.send(new PutCommand({ TableName: names.catalog, Item: item }));
    const work = mkdtempSync(join(tmpdir(), 'cairn-v1-dynamo-'));
    const home = copyV1Home(join(work, 'home'));
    return {
      catalog: new DynamoCatalogStore({ client: clients!.documents, tableName: names.catalog }),
      table: names.catalog,
      store: new FsObjectStore(join(home, 'storage', 'local-disk')),
      work,
      cleanup: async () => {
        rmSync(work, { recursive: true, force: true });
        await deleteTables(clients!.dynamodb, prefix);
      },
    };
  }

  it('lists and gets the old images with one copy each, and restores them byte for byte from the disk objects', async () => {
    // Prepare
    const v1 = await v1Catalog();
    try {
      // Act
      const listed = await v1.catalog.listImages({ client: 'fixture-host' });
      const scanned = await v1.catalog.listImages();
      const full = (await v1.catalog.getImage(V1_FULL))!;
      const openImage = async (backupId: string): Promise<{ image: Image; store: FsObjectStore }> => ({ image: (await v1.catalog.getImage(backupId))!, store: v1.store });
      const restoredFull = await restoreImage({ store: v1.store, image: full, targetDir: join(v1.work, 'full') });
      const restoredIncr = await restorePointInTime({ image: (await v1.catalog.getImage(V1_INCREMENTAL))!, openImage, targetDir: join(v1.work, 'incr') });

      // Assess
      expect(listed.map((i) => i.backupId)).toEqual([V1_INCREMENTAL, V1_FULL]);
      expect(scanned).toEqual(listed);
      expect(full.copies).toEqual([
        expect.objectContaining({ copyNumber: 1, storageUnit: 'local-disk', fragments: [expect.objectContaining({ number: 1, location: { kind: 'object', key: `images/fixture-host/${V1_FULL}/fragment-00001.tar` } })] }),
      ]);
      expect(listed[0]).toMatchObject({ baseBackupId: V1_FULL, level: 'differential-incremental' });
      expect(restoredFull.failures).toEqual([]);
      expect(treeDigest(join(v1.work, 'full', V1_SOURCE))).toEqual(expectedTree('full'));
      expect(restoredIncr.images).toEqual([V1_FULL, V1_INCREMENTAL]);
      expect(treeDigest(join(v1.work, 'incr', V1_SOURCE))).toEqual(expectedTree('incr'));
    } finally {
      await v1.cleanup();
    }
  });

  it('takes a retried commit of an old image as the same image, keeps the old claims, and writes new images at the current version', async () => {
    // Prepare
    const v1 = await v1Catalog();
    try {
      const old = (await v1.catalog.getImage(V1_FULL))!;
      const fresh = sampleImage('fixture-host', new Date('2026-12-03T00:00:00Z'), { jobId: 9 });

      // Act
      await v1.catalog.putImage(old);
      const different = await v1.catalog.putImage({ ...old, fileCount: old.fileCount + 1 }).then(() => undefined, (error: unknown) => error);
      await claimAndCommit(v1.catalog, fresh);

      // Assess
      expect(different).toBeInstanceOf(ConflictError);
      expect(await v1.catalog.listClaims()).toEqual([{ backupId: 'fixture-host_1796205600', jobId: 3, client: 'fixture-host', storageUnit: 'local-disk', claimedAt: '2026-12-02T10:00:00.000Z' }]);
      const item = (await clients!.documents.send(new GetCommand({ TableName: v1.table, Key: { pk: 'fixture-host', sk: fresh.backupId } }))).Item!;
      expect(item.v).toBe(IMAGE_RECORD_VERSION);
      expect(await v1.catalog.getImage(fresh.backupId)).toEqual(fresh);
      expect((await v1.catalog.listImages()).map((i) => i.backupId)).toEqual([fresh.backupId, V1_INCREMENTAL, V1_FULL]);
    } finally {
      await v1.cleanup();
    }
  });
});
