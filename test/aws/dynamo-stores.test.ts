import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import type { TableName } from '#aws/tables.ts';
import { ConflictError } from '#core/errors.ts';
import { describeConfigStoreContract } from '#test/contracts/config-store-contract.ts';
import { describeJobStoreContract } from '#test/contracts/job-store-contract.ts';
import { describeCatalogStoreContract } from '#test/contracts/catalog-store-contract.ts';
import { describeMediaStoreContract } from '#test/contracts/media-store-contract.ts';
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

describe.skipIf(Boolean(skip))('DynamoMediaStore', () => {
  const at = new Date('2026-11-01T02:00:00Z');

  it('grants exactly the maximum to eight jobs racing for three slots, and its counter agrees', async () => {
    // Prepare
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      // Act
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.reserve({ jobId: i + 1, storageUnit: 'disk1', maxConcurrentJobs: 3, at })));
      // Assess
      expect(results.filter((r) => r.granted)).toHaveLength(3);
      for (const denied of results.filter((r) => !r.granted)) {
        expect(denied).toMatchObject({ granted: false, inUse: 3, reason: 'storage unit disk1 has 3 of 3 slots in use' });
      }
      expect(await store.listReservations('disk1')).toHaveLength(3);
      const holder = results.findIndex((r) => r.granted) + 1;
      expect(await store.release(holder)).toBe(true);
      expect((await store.reserve({ jobId: 9, storageUnit: 'disk1', maxConcurrentJobs: 3, at })).granted).toBe(true);
      expect((await store.reserve({ jobId: 10, storageUnit: 'disk1', maxConcurrentJobs: 3, at })).granted).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('takes one slot when the same job reserves many times at once', async () => {
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => store.reserve({ jobId: 7, storageUnit: 'disk1', maxConcurrentJobs: 2, at })));
      expect(results.every((r) => r.granted)).toBe(true);
      expect(await store.listReservations()).toEqual([{ jobId: 7, storageUnit: 'disk1', reservedAt: at.toISOString() }]);
      expect((await store.reserve({ jobId: 8, storageUnit: 'disk1', maxConcurrentJobs: 2, at })).granted).toBe(true);
      expect((await store.reserve({ jobId: 9, storageUnit: 'disk1', maxConcurrentJobs: 2, at })).granted).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('refuses to give a job a second unit while it holds a slot of another', async () => {
    const { store, cleanup } = await openDynamo('media', (o) => new DynamoMediaStore(o))();
    try {
      await store.reserve({ jobId: 1, storageUnit: 'disk1', maxConcurrentJobs: 2, at });
      await expect(store.reserve({ jobId: 1, storageUnit: 'disk2', maxConcurrentJobs: 2, at })).rejects.toBeInstanceOf(ConflictError);
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
