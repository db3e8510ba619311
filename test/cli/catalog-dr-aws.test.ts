import type { Job } from '#core/model/job.ts';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '#aws/clients.ts';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { claimAndCommit, sampleImage, sampleJob } from '../contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';
import { cliAwsEnv, runCairn, type CliResult } from './cli-process.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const root = '/tmp/i12-catalog-dr';

/**
 * The cloud catalog's backup and recovery on the emulator: the four tables
 * of one deployment scanned into a catalog image, and put back from the DR
 * file into the empty tables of another, with the same images, jobs and units.
 */
describe.skipIf(Boolean(skip))(`cairn --aws catalog backup and recover${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const work = join(root, `aws-${process.pid}`);
  const prefixes = [`drA${Date.now()}`, `drB${Date.now()}`];
  let clients: AwsClients;
  let source: Awaited<ReturnType<typeof createTables>>;
  let target: Awaited<ReturnType<typeof createTables>>;
  const cairn = (tables: typeof source, ...args: string[]): Promise<CliResult> => runCairn(join(work, 'home'), ['--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, ...args], { env: cliAwsEnv(tables) });

  beforeAll(async () => {
    if ('skip' in emulator) return;
    mkdirSync(join(work, 'stu'), { recursive: true });
    clients = emulatorClients(emulator.endpoint);
    source = await createTables(clients.dynamodb, prefixes[0]!);
    target = await createTables(clients.dynamodb, prefixes[1]!);
    const client = clients.documents;
    const jobs = new DynamoJobStore({ client, tableName: source.jobs });
    for (let n = 0; n < 30; n++) await jobs.create(sampleJob(await jobs.nextJobId(), { state: 'DONE', statusCode: 0 }));
    const catalog = new DynamoCatalogStore({ client, tableName: source.catalog });
    for (let n = 0; n < 3; n++) await claimAndCommit(catalog, sampleImage('client1', new Date(Date.UTC(2026, 10, 1, n)), { storageUnit: 'dr-disk' }));
    await new DynamoConfigStore({ client, tableName: source.config }).putStorageUnit(StorageUnit.parse({ name: 'dr-disk', kind: 'disk', path: join(work, 'stu') }));
  });
  afterAll(async () => {
    if (!('skip' in emulator)) {
      for (const prefix of prefixes) await deleteTables(clients.dynamodb, prefix).catch(() => undefined);
      clients.destroy();
      await emulator.stop();
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('backs the tables up as a catalog image and recovers them into an empty deployment', async () => {
    const drFile = join(work, 'cloud.dr.json');
    const backup = await cairn(source, 'catalog', 'backup', '--to', 'dr-disk', '--dr-file', drFile, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };
    const stores = (tables: typeof source) => ({
      catalog: new DynamoCatalogStore({ client: clients.documents, tableName: tables.catalog }),
      jobs: new DynamoJobStore({ client: clients.documents, tableName: tables.jobs }),
      config: new DynamoConfigStore({ client: clients.documents, tableName: tables.config }),
    });
    const imagesBefore = await stores(source).catalog.listImages();
    expect(imagesBefore.map((i) => i.backupId)).toContain(backupId);

    const recovered = await cairn(target, 'catalog', 'recover', '--dr-file', drFile, '--json');
    expect(recovered.code, recovered.stderr).toBe(0);
    // 30 jobs and the catalog-backup job that wrote the copy (ACTIVE in it).
    expect(JSON.parse(recovered.stdout)).toMatchObject({ backupId, jobs: 31, images: 4, committedClaims: [] });
    const after = stores(target);
    expect(await after.catalog.listImages()).toEqual(imagesBefore);
    const { jobId: backupJobId } = JSON.parse(backup.stdout) as { jobId: number };
    const others = (jobs: Job[]) => jobs.filter((j) => j.jobId !== backupJobId);
    expect(others(await after.jobs.list())).toEqual(others(await stores(source).jobs.list()));
    // It comes back ended: the DR file names its complete image.
    expect(await after.jobs.get(backupJobId)).toMatchObject({ type: 'catalog-backup', state: 'DONE', statusCode: 0, image: backupId });
    expect(imagesBefore.find((i) => i.backupId === backupId)!.jobId).toBe(backupJobId);
    expect(await after.config.listStorageUnits()).toEqual(await stores(source).config.listStorageUnits());
    // The job-id counter came back too: the next job does not reuse an id.
    expect(await new DynamoJobStore({ client: clients.documents, tableName: target.jobs }).nextJobId()).toBeGreaterThan(30);

    const again = await cairn(target, 'catalog', 'recover', '--dr-file', drFile, '--json');
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stdout)).toMatchObject({ statusCode: 20 });

    // The unit's directory mounted elsewhere: recovered from there, and the tables define the unit there.
    const moved = join(work, 'stu-moved');
    renameSync(join(work, 'stu'), moved);
    const lost = await cairn(target, 'catalog', 'recover', '--dr-file', drFile, '--force', '--json');
    expect(JSON.parse(lost.stdout)).toMatchObject({ statusCode: 219, message: expect.stringContaining('--unit-path') });
    const relocated = await cairn(target, 'catalog', 'recover', '--dr-file', drFile, '--force', '--unit-path', moved, '--json');
    expect(relocated.code, relocated.stderr).toBe(0);
    expect(JSON.parse(relocated.stdout)).toMatchObject({ backupId, relocatedUnit: { name: 'dr-disk', from: join(work, 'stu'), to: moved } });
    expect(await stores(target).config.getStorageUnit('dr-disk')).toMatchObject({ kind: 'disk', path: moved });
    expect(await stores(target).catalog.listImages()).toEqual(imagesBefore);
  }, 120_000);
});
