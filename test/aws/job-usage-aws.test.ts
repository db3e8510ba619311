import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectsCommand, ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { billedTransitions } from '#aws/sfn-execution-history.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { emptyUsage } from '#core/model/job-usage.ts';
import { readAll } from '#core/ports/object-store.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { withUsageRecording } from '#lambdas/usage-recording.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { sampleJob, sampleStorageUnit } from '#test/contracts/fixtures.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * Cost per job on the emulator: what the usage meter counts of real SDK calls,
 * what the Lambdas record through the real DynamoDB job store, and what
 * `cairn --aws jobs show` prints of it. moto 5.2.1 answers ReturnConsumedCapacity
 * with fixed figures of its own (PutItem 1 unit, GetItem and UpdateItem 0.5)
 * and none for transactions (which then count as writes whose units were not
 * returned); DynamoDB answers with the units it charged. The assertions hold
 * the meter to what the emulator answered.
 */
describe.skipIf(Boolean(skip))(`job usage on AWS${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let endpoint: string;
  let setup: AwsClients;
  let tables: Awaited<ReturnType<typeof createTables>>;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    endpoint = emulator.endpoint;
    setup = createAwsClients(emulatorClientOptions(endpoint), {});
    tables = await createTables(setup.dynamodb, `usage${Date.now()}`);
  });
  afterAll(async () => {
    setup?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });
  const metered = (): { meter: UsageMeter; clients: AwsClients } => {
    const meter = new UsageMeter();
    return { meter, clients: createAwsClients({ ...emulatorClientOptions(endpoint), meter }, {}) };
  };

  it('counts DynamoDB requests with the capacity units the service returns, and a refused write as unmeasured', async () => {
    const { meter, clients } = metered();
    const jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    try {
      await jobs.create(sampleJob(900)); // PutItem: 1 unit
      await jobs.get(900); // GetItem: 0.5 on moto
      await expect(jobs.create(sampleJob(900))).rejects.toThrow(/exists already/); // refused: no units come back
      expect(meter.take()).toEqual({ ...emptyUsage(), dynamoWriteRequests: 2, dynamoWriteUnits: 1, dynamoWritesUnmeasured: 1, dynamoReadRequests: 1, dynamoReadUnits: 0.5 });
      expect(meter.take()).toEqual(emptyUsage());
    } finally {
      clients.destroy();
    }
  });

  it('counts S3 requests by price class and the bytes each way', async () => {
    const { meter, clients } = metered();
    const bucket = `cairn-usage-${randomUUID().slice(0, 8)}`;
    await setup.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3ObjectStore({ bucket, prefix: 'site1', client: clients.s3 });
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    try {
      await store.put('images/c1/b1/f1', (async function* () { yield body; })());
      expect(await readAll(await store.get('images/c1/b1/f1'))).toHaveLength(body.length);
      await store.head('images/c1/b1/f1');
      await store.delete('images/c1/b1/f1');
      expect(meter.take()).toMatchObject({ s3Tier1Requests: 1, s3Tier2Requests: 2, s3FreeRequests: 1, s3BytesUp: body.length, s3BytesDown: body.length });

      // A multipart upload is a PUT-class request per call (create, each part, complete); a listing too; a batch delete is free.
      const Key = 'site1/images/c1/b1/f2';
      const { UploadId } = await clients.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
      const parts = [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.alloc(1024, 2)];
      const etags = [];
      for (const [i, part] of parts.entries()) etags.push((await clients.s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: i + 1, Body: part }))).ETag);
      await clients.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
      await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'site1/' }));
      await clients.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key }] } }));
      expect(meter.take()).toMatchObject({ s3Tier1Requests: 5, s3Tier2Requests: 0, s3FreeRequests: 1, s3BytesUp: 5 * 1024 * 1024 + 1024, s3BytesDown: 0 });
    } finally {
      clients.destroy();
    }
  });

  it('records each Lambda invocation on its job through the DynamoDB job store: count, duration, memory, cold start, DynamoDB writes', async () => {
    const { meter, clients } = metered();
    const config = new DynamoConfigStore({ client: clients.documents, tableName: tables.config });
    const jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    await config.putStorageUnit(sampleStorageUnit('disk1'));
    let now = 0;
    const handler = withUsageRecording(createJobsHandler({ config, jobs, clock: systemClock }), {
      jobs,
      takeUsage: () => meter.take(),
      // The clock moves 120.3 ms between two looks: each invocation is billed 121 ms.
      elapsedMs: () => (now += 120.3),
      arch: 'arm64',
      onFailure: (error) => { throw error; },
    });
    const context = { memoryLimitInMB: '512' } as never;
    try {
      const ref = (await handler({ action: 'queue', request: { client: 'c9', selections: ['/data'], storageUnit: 'disk1' } }, context)) as { jobId: number };
      const afterQueue = await jobs.usage(ref.jobId);
      expect(afterQueue).toMatchObject({ lambdaInvocations: 1, lambdaColdStarts: 1, lambdaBilledMs: 121, lambdaArmMbMs: 121 * 512, lambdaX86MbMs: 0 });
      // The queue's own writes (the job id counter, an UpdateItem: 0.5 on moto; the job, a PutItem: 1),
      // and the usage write itself (one unit: the usage item is under 1 KB); the settings and the storage unit read.
      expect(afterQueue).toMatchObject({ dynamoWriteRequests: 3, dynamoWriteUnits: 2.5, dynamoWritesUnmeasured: 0 });
      expect(afterQueue.dynamoReadRequests).toBeGreaterThanOrEqual(2);
      expect(afterQueue.dynamoReadUnits).toBe(afterQueue.dynamoReadRequests * 0.5);

      await handler({ action: 'finish', jobId: ref.jobId, outcome: { statusCode: 0 } }, context);
      const afterFinish = await jobs.usage(ref.jobId);
      expect(afterFinish).toMatchObject({ lambdaInvocations: 2, lambdaColdStarts: 1, lambdaBilledMs: 242 });
      // finish reads the job and writes it back (GetItem 0.5, PutItem 1), then its usage write.
      expect(afterFinish.dynamoWriteRequests - afterQueue.dynamoWriteRequests).toBe(2);
      expect(afterFinish.dynamoReadUnits - afterQueue.dynamoReadUnits).toBeGreaterThanOrEqual(0.5);
      expect((await jobs.get(ref.jobId))?.state).toBe('DONE');
    } finally {
      clients.destroy();
    }
  });

  it('prints the measured counts and their price in cairn --aws jobs show, text and JSON', async () => {
    // Prepare: a job with the usage its Lambdas and agent recorded, and its execution on the emulator's Step Functions.
    const jobs = new DynamoJobStore({ client: setup.documents, tableName: tables.jobs });
    const { stateMachineArn } = await setup.sfn.send(
      new CreateStateMachineCommand({ name: `usage-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Only', States: { Only: { Type: 'Pass', End: true } } }) }),
    );
    const { executionArn } = await setup.sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'nightly-c1-full-1795399200', input: '{}' }));
    // moto answers GetExecutionHistory with a fixed history of one Pass state (4 events); Step Functions answers with the real one.
    expect(await billedTransitions(setup.sfn, executionArn!)).toEqual({ count: 1, events: 4 });
    const agentUsage = { ...emptyUsage(), s3Tier1Requests: 130, s3Tier2Requests: 4, s3BytesUp: 1024 ** 3, dynamoWriteRequests: 28, dynamoWriteUnits: 27, dynamoWritesUnmeasured: 1 };
    await jobs.create(sampleJob(41, { state: 'DONE', statusCode: 0, executionName: 'nightly-c1-full-1795399200', progress: { files: 3, bytes: 1024 ** 3, throughputBps: 1, writerWaits: 0, readerWaits: 0, usage: agentUsage } }));
    await jobs.recordUsage(41, { lambdaInvocations: 6, lambdaColdStarts: 2, lambdaBilledMs: 600, lambdaArmMbMs: 600 * 512, dynamoWriteRequests: 11, dynamoWriteUnits: 13 });
    await jobs.create(sampleJob(42, { state: 'DONE', statusCode: 0 }));
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      CAIRN_CONFIG_TABLE: tables.config,
      CAIRN_JOBS_TABLE: tables.jobs,
      CAIRN_CATALOG_TABLE: tables.catalog,
      CAIRN_MEDIA_TABLE: tables.media,
      CAIRN_STATE_MACHINE_ARN: stateMachineArn!,
    };
    const cairn = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> => (await run(process.execPath, [bin, '--aws', '--endpoint', endpoint, 'jobs', 'show', ...args], { env: { ...env, ...extraEnv } })).stdout;

    // Act
    const json = JSON.parse(await cairn(['41', '--json'])) as { usage: { stateTransitions: unknown; lambdas: Record<string, number>; agent: Record<string, number> }; cost: { region: string; totalUsd: number; lines: { what: string; quantity: number; usd?: number }[] } };
    const text = await cairn(['41']);
    // A job whose record names no execution, in a stack whose region the price table lacks.
    const unknowns = JSON.parse(await cairn(['42', '--json'], { CAIRN_STATE_MACHINE_ARN: 'arn:aws:states:me-central-1:123456789012:stateMachine:backup-job' })) as {
      usage: { stateTransitions: unknown };
      cost: { priceNote: string; totalUsd?: number; totalAtLeast: boolean; lines: { quantity: number; usd?: number }[] };
    };

    // Assess: the counts as measured, priced at us-east-1's list prices.
    expect(json.usage.stateTransitions).toEqual({ count: 1, events: 4 });
    expect(json.usage.lambdas).toMatchObject({ lambdaInvocations: 6, dynamoWriteRequests: 12, dynamoWriteUnits: 14 });
    expect(json.usage.agent).toMatchObject({ s3Tier1Requests: 130 });
    expect(json.cost.region).toBe('us-east-1');
    const line = (what: RegExp) => json.cost.lines.find((l) => what.test(l.what))!;
    expect(line(/^state transitions/)).toMatchObject({ quantity: 1 });
    expect(line(/^write request units/)).toMatchObject({ quantity: 41, what: 'write request units (40 writes)' });
    expect(line(/^PUT, COPY/).usd).toBeCloseTo(130 * 0.000005, 12);
    expect(json.cost.totalUsd).toBeGreaterThan(0);
    expect(text).toMatch(/^cost {22}us-east-1, list prices of \d{4}-\d{2}-\d{2} \(core\/cost\/prices\.ts\)$/m);
    expect(text).toMatch(/^ {2}Step Functions {10}state transitions \(Standard, retries included\): 1 transitions {2}\$0\.000025$/m);
    expect(text).toMatch(/^ {2}Lambda {18}invocations: 6 requests {2}\$0\.0000012$/m);
    expect(text).toMatch(/^ {2}S3 {22}PUT, COPY, POST, LIST requests: 130 requests {2}\$0\.00065$/m);
    expect(text).toMatch(/^ {2}total {19}at least \$0\.\d+; the bytes written cost \$0\.02 a month in S3 Standard$/m);
    expect(text).toMatch(/^ {2}not measured {12}KMS requests/m);
    // The transitions said to be unknown, not guessed; every count shown, priced "unknown for REGION".
    expect(unknowns.usage.stateTransitions).toEqual({ unknown: 'the job record names no execution' });
    expect(unknowns.cost.totalAtLeast).toBe(true);
    expect(unknowns.cost.priceNote).toBe('unknown for me-central-1');
    expect(unknowns.cost.totalUsd).toBeUndefined();
    expect(unknowns.cost.lines.every((l) => l.usd === undefined)).toBe(true);
  }, 60_000);
});
