import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { runExpiration, type ExpirationDeps } from '#core/catalog/expire-images.ts';
import { recordTapeWrites } from '#core/catalog/tape-writes.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { Image } from '#core/model/image.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { cloudReachable, cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { claimAndCommit, sampleImage } from '#test/contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const DAY = 86_400_000;
const t0 = new Date('2026-11-02T20:00:00Z');
const day = (n: number): Date => new Date(t0.getTime() + n * DAY);

/**
 * The expiration executor in the cloud runtime's adapters, on moto: the
 * Catalog, Jobs and Media tables, a versioned image bucket (every version of
 * an expired image's objects goes), the media manager's volumes, driven
 * through the scheduler Lambda's handler as lambdas/scheduler.ts wires it.
 */
describe.skipIf(Boolean(skip))(`expiration on DynamoDB and S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let stores: { config: DynamoConfigStore; jobs: DynamoJobStore; catalog: DynamoCatalogStore; media: DynamoMediaStore; emm: MediaDatabase };
  let bucket: string;
  let store: S3ObjectStore;
  const clock = new FakeClock(t0);

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `expire${Date.now()}`);
    const client = clients.documents;
    stores = {
      config: new DynamoConfigStore({ client, tableName: tables.config }),
      jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
      catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
      media: new DynamoMediaStore({ client, tableName: tables.media }),
      emm: dynamoMediaDatabase({ client, tableName: tables.media }),
    };
    bucket = `cairn-expire-${randomUUID().slice(0, 13)}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await clients.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket, prefix: 'site1' }));
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'r1', pool: 'p1', index: { name: 'tape-index', kind: 's3', bucket, prefix: 'site1' } }));
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'onprem-disk', kind: 'disk', path: '/srv/cairn' }));
    await stores.emm.addPool({ name: 'p1' });
    await stores.emm.addMedia({ ...newMedia('T00001', t0, { pool: 'p1' }), tapeFiles: 1 });
    store = new S3ObjectStore({ bucket, prefix: 'site1', client: clients.s3 });
  });
  afterAll(() => clients?.destroy());

  async function s3Image(n: number, retention: number, base?: Image, storageUnit = 's3-unit'): Promise<Image> {
    const at = day(n);
    const image = sampleImage('c1', at, { storageUnit, jobId: n + 1, level: base ? 'differential-incremental' : 'full', expiresAt: new Date(at.getTime() + retention * DAY).toISOString(), ...(base ? { baseBackupId: base.backupId } : {}) });
    if (storageUnit === 's3-unit') for (const name of ['fragment-00001.tar', 'index.ndjson.gz', 'manifest.json']) await store.put(`images/c1/${image.backupId}/${name}`, Buffer.alloc(64, n));
    await claimAndCommit(stores.catalog, image);
    return image;
  }

  it('expires S3 and tape images through the scheduler tick (delete markers, versions left to the lifecycle), a dependant’s base kept, disk units left to the agent', async () => {
    const full = await s3Image(0, 2);
    const incr = await s3Image(1, 6, full);
    const lone = await s3Image(2, 1);
    const onPrem = await s3Image(3, 1, undefined, 'onprem-disk');
    // A tape image: fragment on T00001, index and manifest in the tape unit's index folder on S3.
    const tapeBase = sampleImage('c1', day(4), { storageUnit: 'tape1', jobId: 40, expiresAt: day(5).toISOString() });
    const tape: Image = { ...tapeBase, copies: [{ ...tapeBase.copies[0]!, fragments: [{ number: 1, bytes: 500, sha256: 'a'.repeat(64), location: { kind: 'tape', mediaId: 'T00001', fileNumber: 1, blockOffset: 2 } }] }] };
    for (const name of ['index.ndjson.gz', 'manifest.json']) await store.put(`images/c1/${tape.backupId}/${name}`, Buffer.alloc(10));
    await recordTapeWrites(stores.emm, tape, 1, day(4));
    await claimAndCommit(stores.catalog, tape);

    const tick = createSchedulerHandler({
      ...stores,
      starter: { start: async () => 'started' } as never,
      expiration: { openStorageUnit: cloudStorageOpener(clients.s3), canReach: cloudReachable, media: stores.media, emm: stores.emm },
      clock,
    });
    clock.set(day(6));
    const first = await tick();
    expect(first.expiration).toMatchObject({ problems: [], deferred: 0, recycled: [{ mediaId: 'T00001', fromPool: 'p1' }], unreachable: [{ backupId: onPrem.backupId, storageUnit: 'onprem-disk' }] });
    expect(first.expiration!.expired.map((e) => e.backupId)).toEqual([tape.backupId, lone.backupId]);
    expect(first.expiration!.kept).toMatchObject([{ backupId: full.backupId, neededBy: incr.backupId, keptUntil: incr.expiresAt }]);
    // The expired images' objects are gone; the kept ones are whole. Their bytes stay as noncurrent versions behind delete
    // markers (only the deletion role destroys versions; the bucket's lifecycle expires them): none is current.
    const folderOf = (key: string): string => key.split('/').slice(0, 4).join('/');
    expect([...new Set((await store.list('images/')).map((k) => folderOf(`site1/${k}`)))].sort()).toEqual([`site1/images/c1/${full.backupId}`, `site1/images/c1/${incr.backupId}`].sort());
    const versions = await clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'site1/' }));
    const expiredFolders = [tape, lone].map((i) => `site1/images/c1/${i.backupId}`);
    const leftovers = (versions.Versions ?? []).filter((v) => expiredFolders.includes(folderOf(v.Key!)));
    expect(leftovers.length).toBe(5);
    expect(leftovers.every((v) => v.IsLatest === false)).toBe(true);
    expect((versions.DeleteMarkers ?? []).filter((m) => expiredFolders.includes(folderOf(m.Key!)) && m.IsLatest).length).toBe(5);
    expect((await stores.catalog.listImages()).map((i) => i.backupId).sort()).toEqual([full.backupId, incr.backupId, onPrem.backupId].sort());
    expect(await stores.emm.getMedia('T00001')).toMatchObject({ pool: 'scratch', state: 'UNASSIGNED', images: [], tapeFiles: 0 });
    // The tick's cleanup is an image-cleanup job in the Jobs table, owned by the invocation.
    expect((await stores.jobs.list()).map((j) => [j.type, j.state, j.statusCode, j.type === 'image-cleanup' ? [j.trigger, j.expiredCount, j.recycledVolumes, j.owner] : undefined])).toEqual([
      ['image-cleanup', 'DONE', 0, ['tick', 2, ['T00001'], 'lambda:scheduler:unknown']],
    ]);

    // A kill between the mark and the deletes: the next tick finishes it.
    clock.set(day(7));
    const killed: ExpirationDeps = {
      catalog: stores.catalog,
      config: stores.config,
      jobs: stores.jobs,
      openStorageUnit: async () => {
        throw new Error('killed after the mark');
      },
    };
    const half = await runExpiration(killed, day(7));
    // Everything due was marked, then the "process died" before a byte went (the disk unit's image too: this run reaches every unit).
    expect(half.problems).toEqual([incr, full, onPrem].map((i) => `image ${i.backupId}: killed after the mark; tried again at the next cleanup`).sort((a, b) => (a < b ? 1 : -1)));
    expect(await stores.catalog.getImage(incr.backupId)).toMatchObject({ state: 'EXPIRED' });
    const second = await tick();
    expect(second.expiration!.expired.map((e) => [e.backupId, e.reason])).toEqual([
      [incr.backupId, 'finishing an expiration begun earlier'],
      [full.backupId, 'finishing an expiration begun earlier'],
    ]);
    expect(second.expiration!.unreachable).toEqual([{ backupId: onPrem.backupId, storageUnit: 'onprem-disk' }]);
    expect(await store.list('images/')).toEqual([]);
    expect((await stores.catalog.listImages()).map((i) => i.backupId)).toEqual([onPrem.backupId]);
  });
});
