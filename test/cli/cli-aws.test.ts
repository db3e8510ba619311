import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateStateMachineCommand, ListExecutionsCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { promisify } from 'node:util';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { cliAwsEnv } from './cli-process.ts';
import type { AwsClients } from '#aws/clients.ts';
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
  let clients: AwsClients;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `cli${Date.now()}`);
    const client = clients.documents;
    await new DynamoJobStore({ client, tableName: tables.jobs }).create(sampleJob(7, { state: 'DONE', statusCode: 0 }));
    await claimAndCommit(new DynamoCatalogStore({ client, tableName: tables.catalog }), sampleImage('client1', new Date('2026-11-01T01:00:00Z')));
    await new DynamoConfigStore({ client, tableName: tables.config }).putStorageUnit(sampleStorageUnit('disk1'));
    // A manual backup of a client with no agent instance is refused before it starts (cli-aws-clients.test.ts).
    await new DynamoConfigStore({ client, tableName: tables.config }).putClient({ name: 'client9', instanceId: 'mi-0123456789abcdef0' });
    env = cliAwsEnv(tables);
  });
  afterAll(async () => {
    clients?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });
  const cairn = async (...args: string[]): Promise<unknown> => JSON.parse((await run(process.execPath, [bin, '--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, ...args, '--json'], { env })).stdout);

  it('lists jobs, images and storage units from the deployment tables', async () => {
    expect(await cairn('jobs')).toMatchObject([{ jobId: 7, state: 'DONE', statusCode: 0 }]);
    expect(await cairn('images')).toMatchObject([{ backupId: 'client1_1793494800', client: 'client1' }]);
    expect(await cairn('storage-unit', 'list')).toMatchObject([{ name: 'disk1', inUse: 0 }]);
  });

  it('ends a backup whose execution is stopped before it queues a job, with 150 and the execution named', async () => {
    // A state machine whose executions never queue a job: on moto a Pass machine's executions stay RUNNING until stopped.
    const { stateMachineArn } = await clients.sfn.send(
      new CreateStateMachineCommand({ name: `never-queues-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Pass', End: true } } }) }),
    );
    const endpoint = (emulator as { endpoint: string }).endpoint;
    const child = spawn(process.execPath, [bin, '--aws', '--endpoint', endpoint, 'backup', '--client', 'client9', '--json'], { env: { ...env, CAIRN_STATE_MACHINE_ARN: stateMachineArn }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    // The operator (or a timeout) stops the execution while the CLI waits for its job.
    let executionArn: string | undefined;
    for (let i = 0; i < 50 && executionArn === undefined; i++) {
      await sleep(200);
      const listed = await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }));
      executionArn = listed.executions?.find((e) => e.name?.startsWith('cli-client9-'))?.executionArn;
    }
    expect(executionArn, stderr).toBeDefined();
    await clients.sfn.send(new StopExecutionCommand({ executionArn, error: 'Stopped', cause: 'stopped by the test' }));
    const code = await exited;

    // No job was queued: the CLI reports it as an error (cli/report-error.ts), naming the execution and how it ended.
    const failure = JSON.parse(stdout) as { statusCode: number; message: string };
    expect(failure.statusCode).toBe(150);
    // moto's DescribeExecution leaves out the stop's error and cause, which the service returns (follow-backup.test.ts covers them).
    expect(failure.message).toMatch(/^the execution cli-client9-\d+ ended ABORTED without queueing a job( \(Stopped: stopped by the test\))?$/);
    expect(code).not.toBe(0);
  }, 30_000);
});

