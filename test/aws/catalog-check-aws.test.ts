import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { Image } from '#core/model/image.ts';
import type { CatalogCheckReport } from '#core/catalog/catalog-check.ts';
import { claimAndCommit, sampleJob } from '#test/contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { forgeImage, keyOf } from '../edge-agent/forge.ts';
import { cliAwsEnv } from '../cli/cli-process.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * `cairn --aws catalog check` on the cloud runtime's adapters (moto): the
 * Catalog, Jobs and Media tables, an S3 storage unit, Step Functions. A
 * stray object, a deleted fragment, a reservation of an ended job and an
 * ACTIVE job whose execution Step Functions does not know are found;
 * `--repair --grace 0` fixes them and a second check is clean.
 */
describe.skipIf(Boolean(skip))(`catalog check on DynamoDB and S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let env: NodeJS.ProcessEnv;
  let good: Image;
  let gone: Image;
  let store: S3ObjectStore;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `check${Date.now()}`);
    const client = clients.documents;
    const bucket = `cairn-check-${randomUUID().slice(0, 13)}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await new DynamoConfigStore({ client, tableName: tables.config }).putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket, prefix: 'site1' }));
    store = new S3ObjectStore({ bucket, prefix: 'site1', client: clients.s3 });
    const catalog = new DynamoCatalogStore({ client, tableName: tables.catalog });
    const onUnit = (image: Image): Image => ({ ...image, copies: [{ ...image.copies[0]!, storageUnit: 's3-unit' }] });
    good = onUnit(await forgeImage(store, 'good_1795400000', [{ name: 'a.txt', content: 'kept' }]));
    gone = onUnit(await forgeImage(store, 'gone_1795400001', [{ name: 'b.txt', content: 'lost' }]));
    for (const image of [good, gone]) await claimAndCommit(catalog, image);
    await store.delete(keyOf(gone.copies[0]!.fragments[0]!));
    await store.put('images/ghost/ghost_1700000000/fragment-00001.tar', Buffer.alloc(321, 1));
    // A real state machine that never ran the dead job's execution: DescribeExecution says it does not exist.
    const { stateMachineArn } = await clients.sfn.send(
      new CreateStateMachineCommand({ name: `check-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }) }),
    );
    const jobs = new DynamoJobStore({ client, tableName: tables.jobs });
    await jobs.create(sampleJob(50, { state: 'ACTIVE', client: 'dead-host', storageUnit: 's3-unit', executionName: 'never-ran', owner: 'cli:backup:x' }));
    await jobs.create(sampleJob(51, { state: 'DONE', statusCode: 0, client: 'done-host', storageUnit: 's3-unit' }));
    await new DynamoMediaStore({ client, tableName: tables.media }).reserve({ jobId: 51, resources: [{ kind: 'storage-unit-slot', storageUnit: 's3-unit', maxConcurrentJobs: 4 }], at: new Date() });
    env = cliAwsEnv(tables, { CAIRN_STATE_MACHINE_ARN: stateMachineArn });
  });
  afterAll(async () => {
    clients?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });

  const check = async (...args: string[]): Promise<{ code: number; report: CatalogCheckReport; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [bin, '--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, 'catalog', 'check', '--json', ...args], { env });
      return { code: 0, report: JSON.parse(stdout) as CatalogCheckReport, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, report: JSON.parse(e.stdout) as CatalogCheckReport, stderr: e.stderr };
    }
  };

  it('finds each problem, repairs it, and a second check is clean; the good image is untouched', async () => {
    const first = await check();
    expect(first.code, first.stderr).toBe(1);
    expect(first.report.findings.map((f) => `${f.kind} ${f.subject}`).sort()).toEqual(
      [
        'dead-job job 50',
        `damaged-image image ${gone.backupId} copy 1 on s3-unit`,
        'orphan-object s3-unit:images/ghost/ghost_1700000000/fragment-00001.tar',
        'stale-reservation job 51: a slot of storage unit s3-unit',
      ].sort(),
    );
    // Just written: younger than the default grace period, so a repair without --grace 0 would leave it.
    const orphan = first.report.findings.find((f) => f.kind === 'orphan-object')!;
    expect(orphan.bytes).toBe(321);
    expect(orphan.action).toBeUndefined();

    const repair = await check('--repair', '--grace', '0');
    expect(repair.report.unrepaired, repair.stderr).toEqual([]);
    expect(repair.code).toBe(0);
    expect(repair.report.changes.map((c) => c.subject).sort()).toEqual(['image gone_1795400001 copy 1 on s3-unit', 'job 50', 'job 51', 's3-unit:images/ghost/ghost_1700000000/fragment-00001.tar'].sort());

    const second = await check();
    expect(second.code, second.stderr).toBe(0);
    expect(second.report.findings).toEqual([]);
    expect(await store.list(`images/good/${good.backupId}/`)).toEqual(good.copies[0]!.fragments.map(keyOf).concat([good.copies[0]!.indexKey, good.copies[0]!.manifestKey]).sort());
  }, 60_000);
});
