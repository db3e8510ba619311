import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import type { TableName } from '#aws/tables.ts';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '#core/errors.ts';
import { asKind } from '#core/model/job.ts';
import { legacyBackupJobJson } from '#test/contracts/legacy-records.ts';
import { describeConfigStoreContract } from '#test/contracts/config-store-contract.ts';
import { describeJobStoreContract } from '#test/contracts/job-store-contract.ts';
import { describeCatalogStoreContract } from '#test/contracts/catalog-store-contract.ts';
import { describeMediaStoreContract } from '#test/contracts/media-store-contract.ts';
import { describeMediaManagerContract } from '#test/contracts/media-manager-contract.ts';
import { describeTapeWritesContract } from '#test/contracts/tape-writes-contract.ts';
import { sampleJob, type StoreFixture } from '#test/contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const clients = 'endpoint' in emulator ? emulatorClients(emulator.endpoint) : undefined;
afterAll(async () => {
  clients?.destroy();
  if ('stop' in emulator) await emulator.stop();
});

/** Fresh tables under a unique prefix for every test; the cleanup deletes them. */
function openDynamo<T>(table: TableName, make: (options: { client: NonNullable<typeof clients>['documents']; tableName: string }) => T): () => Promise<StoreFixture<T> & { cleanup: () => Promise<void> }> {
  return async () => {
    const prefix = `cairn-test-${randomUUID().slice(0, 8)}`;
    const names = await createTables(clients!.dynamodb, prefix);
    return { store: make({ client: clients!.documents, tableName: names[table] }), cleanup: () => deleteTables(clients!.dynamodb, prefix) };
  };
}

describeConfigStoreContract('DynamoDB', openDynamo('config', (o) => new DynamoConfigStore(o)), skip);
describeJobStoreContract('DynamoDB', openDynamo('jobs', (o) => new DynamoJobStore(o)), skip);
describeCatalogStoreContract('DynamoDB', openDynamo('catalog', (o) => new DynamoCatalogStore(o)), skip);
describeMediaStoreContract('DynamoDB', openDynamo('media', (o) => new DynamoMediaStore(o)), skip);
describeMediaManagerContract('DynamoDB', openDynamo('media', (o) => dynamoMediaDatabase(o)), skip);
describeTapeWritesContract('DynamoDB', openDynamo('media', (o) => dynamoMediaDatabase(o)), skip);

describe.skipIf(Boolean(skip))('DynamoMediaStore', () => {
  const at = new Date('2026-11-01T02:00:00Z');

  it('grants exactly the maximum to eight jobs racing for three slots, and its counter agrees', async () => {
    // Prepare
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      // Act
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.reserve({ jobId: i + 1, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 3 }], at })));
      // Assess
      expect(results.filter((r) => r.granted)).toHaveLength(3);
      for (const denied of results.filter((r) => !r.granted)) {
        expect(denied).toMatchObject({ granted: false, inUse: 3, reason: 'storage unit disk1 has 3 of 3 slots in use' });
      }
      expect(await store.listReservations('disk1')).toHaveLength(3);
      const holder = results.findIndex((r) => r.granted) + 1;
      expect(await store.release(holder)).toBe(true);
      expect((await store.reserve({ jobId: 9, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 3 }], at })).granted).toBe(true);
      expect((await store.reserve({ jobId: 10, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 3 }], at })).granted).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('takes one slot when the same job reserves many times at once', async () => {
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => store.reserve({ jobId: 7, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 2 }], at })));
      expect(results.every((r) => r.granted)).toBe(true);
      expect(await store.listReservations()).toEqual([{ jobId: 7, kind: 'storage-unit-slot', storageUnit: 'disk1', reservedAt: at.toISOString() }]);
      expect((await store.reserve({ jobId: 8, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 2 }], at })).granted).toBe(true);
      expect((await store.reserve({ jobId: 9, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 2 }], at })).granted).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('refuses to give a job a second unit while it holds a slot of another', async () => {
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      await store.reserve({ jobId: 1, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk1', maxConcurrentJobs: 2 }], at });
      await expect(store.reserve({ jobId: 1, resources: [{ kind: 'storage-unit-slot', storageUnit: 'disk2', maxConcurrentJobs: 2 }], at })).rejects.toBeInstanceOf(ConflictError);
      expect(await store.listReservations()).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });
});

describe.skipIf(Boolean(skip))('DynamoJobStore', () => {
  it('pages past non-matching jobs until the limit is filled', async () => {
    const { store, cleanup } = await openDynamo('jobs', (o) => new DynamoJobStore(o))();
    try {
      for (let id = 1; id <= 150; id++) await store.create(sampleJob(id, { state: id <= 2 ? 'ACTIVE' : 'DONE', statusCode: 0 }));
      expect((await store.list({ state: 'ACTIVE', limit: 5 })).map((j) => j.jobId)).toEqual([2, 1]);
      expect(await store.list({ limit: 150 })).toHaveLength(150);
    } finally {
      await cleanup();
    }
  });
});

describe.skipIf(Boolean(skip))('Dynamo stores on items written before job kinds and resource requests', () => {
  const at = new Date('2026-11-01T02:00:00Z');
  it('reads an old backup job item back as a backup job, and updates it', async () => {
    const { store, cleanup, tableName } = await openDynamoWithTable('jobs', (o) => new DynamoJobStore(o));
    try {
      // Prepare: the item exactly as the old store wrote it
      await clients!.documents.send(new PutCommand({ TableName: tableName, Item: { pk: 'JOB', sk: '000000000005', jobId: 5, state: 'DONE', rev: 3, json: legacyBackupJobJson } }));
      // Act
      const job = await store.get(5);
      const updated = await store.update(5, (j) => ({ ...j, updatedAt: '2026-11-02T00:00:00.000Z' }));
      // Assess
      expect(job).toEqual(JSON.parse(legacyBackupJobJson));
      expect(await store.list()).toEqual([updated]);
      expect(asKind(updated, 'backup')).toMatchObject({ backupId: 'client1_1793498400', updatedAt: '2026-11-02T00:00:00.000Z' });
    } finally {
      await cleanup();
    }
  });

  it('reads an old one-slot reservation item as a storage-unit slot, and releases it with its counter', async () => {
    const { store, cleanup, tableName } = await openDynamoWithTable('media', (o) => new DynamoMediaStore(o));
    try {
      // Prepare: job 7 holds the only slot of disk1, as the old store recorded it
      await clients!.documents.send(new PutCommand({ TableName: tableName, Item: { pk: 'RES', sk: '000000000007', jobId: 7, storageUnit: 'disk1', reservedAt: at.toISOString() } }));
      await clients!.documents.send(new PutCommand({ TableName: tableName, Item: { pk: 'STU', sk: 'disk1', inUse: 1 } }));
      const slot = { kind: 'storage-unit-slot' as const, storageUnit: 'disk1', maxConcurrentJobs: 1 };
      // Act / Assess
      expect(await store.listReservations('disk1')).toEqual([{ jobId: 7, kind: 'storage-unit-slot', storageUnit: 'disk1', reservedAt: at.toISOString() }]);
      expect((await store.reserve({ jobId: 7, resources: [slot], at })).granted).toBe(true);
      expect((await store.reserve({ jobId: 8, resources: [slot], at })).granted).toBe(false);
      expect(await store.release(7)).toBe(true);
      expect((await store.reserve({ jobId: 8, resources: [slot], at })).granted).toBe(true);
    } finally {
      await cleanup();
    }
  });
});

/** Like openDynamo, and says the table's name, for tests that write items the way an older version did. */
async function openDynamoWithTable<T>(table: TableName, make: (options: { client: NonNullable<typeof clients>['documents']; tableName: string }) => T) {
  let tableName = '';
  const fixture = await openDynamo(table, (o) => {
    tableName = o.tableName;
    return make(o);
  })();
  return { ...fixture, tableName };
}
