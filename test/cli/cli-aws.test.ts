import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { claimAndCommit, sampleImage, sampleJob, sampleStorageUnit } from '../contracts/fixtures.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/** `cairn --aws` reads a deployment's DynamoDB tables through the real SDK (here on the emulator). */
describe.skipIf(Boolean(skip))(`the cairn CLI against a deployed stack${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    const clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `cli${Date.now()}`);
    const client = clients.documents;
    await new DynamoJobStore({ client, tableName: tables.jobs }).create(sampleJob(7, { state: 'DONE', statusCode: 0 }));
    await claimAndCommit(new DynamoCatalogStore({ client, tableName: tables.catalog }), sampleImage('client1', new Date('2026-11-01T01:00:00Z')));
    await new DynamoConfigStore({ client, tableName: tables.config }).putStorageUnit(sampleStorageUnit('disk1'));
    env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      CAIRN_CONFIG_TABLE: tables.config,
      CAIRN_JOBS_TABLE: tables.jobs,
      CAIRN_CATALOG_TABLE: tables.catalog,
      CAIRN_MEDIA_TABLE: tables.media,
      CAIRN_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:backup-job',
    };
  });
  afterAll(async () => {
    if (!('skip' in emulator)) await emulator.stop();
  });
  const cairn = async (...args: string[]): Promise<unknown> => JSON.parse((await run(process.execPath, [bin, '--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, ...args, '--json'], { env })).stdout);

  it('lists jobs, images and storage units from the deployment tables', async () => {
    expect(await cairn('jobs')).toMatchObject([{ jobId: 7, state: 'DONE', statusCode: 0 }]);
    expect(await cairn('images')).toMatchObject([{ backupId: 'client1_1793494800', client: 'client1' }]);
    expect(await cairn('storage-unit', 'list')).toMatchObject([{ name: 'disk1', inUse: 0 }]);
  });
});
