import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteRuleCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CallLog } from '#aws/call-recorder.ts';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { EventBridgeJobEvents } from '#aws/eventbridge-job-events.ts';
import { CairnError } from '#core/errors.ts';
import { PublishingJobStore } from '#core/jobs/publishing-job-store.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE, jobStateChange, type JobStateChange } from '#core/ports/job-events.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { dynamoDeps } from '#lambdas/dynamo-deps.ts';
import type { HandlerObservability } from '#lambdas/handler-kit.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { emulatorClientOptions, startAwsEmulator } from '../setup/aws-emulator.ts';
import { describeJobEventsContract } from '../contracts/job-events-contract.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import type { DeliveredEvent } from '../memory/memory-job-events.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/**
 * SQS on the emulator through its JSON protocol: the repository has no SQS
 * client, and a subscriber's queue is all these tests need of it.
 */
async function sqs<T>(endpoint: string, action: string, body: Record<string, unknown>): Promise<T> {
  const response = await fetch(endpoint, {
    method: 'POST',
    // moto routes a request by the service its credential scope names, and checks no signature.
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`SQS ${action} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

let serial = 0;

/**
 * A subscriber as an operator would set one up: a rule on the default bus
 * matching Cairn's job state changes, targeting an SQS queue. moto 5.2.1
 * evaluates the rule's pattern and delivers the event to the queue, so what
 * the queue receives is what a subscriber of the pattern gets.
 */
async function subscriber(clients: AwsClients, endpoint: string) {
  const name = `cairn-jobs-${process.pid}-${++serial}`;
  const { QueueUrl } = await sqs<{ QueueUrl: string }>(endpoint, 'CreateQueue', { QueueName: name });
  const { Attributes } = await sqs<{ Attributes: { QueueArn: string } }>(endpoint, 'GetQueueAttributes', { QueueUrl, AttributeNames: ['QueueArn'] });
  await clients.events.send(new PutRuleCommand({ Name: name, EventPattern: JSON.stringify({ source: [JOB_EVENT_SOURCE], 'detail-type': [JOB_STATE_CHANGE] }) }));
  await clients.events.send(new PutTargetsCommand({ Rule: name, Targets: [{ Id: 'queue', Arn: Attributes.QueueArn }] }));
  const received: DeliveredEvent[] = [];
  return {
    async delivered(): Promise<DeliveredEvent[]> {
      for (;;) {
        const { Messages = [] } = await sqs<{ Messages?: { Body: string; ReceiptHandle: string }[] }>(endpoint, 'ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 });
        if (Messages.length === 0) return received;
        for (const message of Messages) {
          const event = JSON.parse(message.Body) as { source: string; 'detail-type': string; detail: unknown; time: string };
          received.push({ source: event.source, detailType: event['detail-type'], detail: event.detail, time: event.time });
          await sqs(endpoint, 'DeleteMessage', { QueueUrl, ReceiptHandle: message.ReceiptHandle });
        }
      }
    },
    async cleanup(): Promise<void> {
      await clients.events.send(new RemoveTargetsCommand({ Rule: name, Ids: ['queue'] }));
      await clients.events.send(new DeleteRuleCommand({ Name: name }));
      await sqs(endpoint, 'DeleteQueue', { QueueUrl });
    },
  };
}

/** Answers the first `times` PutEvents itself, refusing the entry with `code` (before anything is sent: the emulator never sees them). */
function refuseEntries(clients: AwsClients, times: number, code: string): { refused: () => number } {
  let refused = 0;
  clients.events.middlewareStack.add(
    ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName !== 'PutEventsCommand' || refused >= times) return next(args);
      refused++;
      return { output: { FailedEntryCount: 1, Entries: [{ ErrorCode: code, ErrorMessage: `${code} (injected)` }], $metadata: {} } };
    }) as never,
    { step: 'initialize', name: `refuseEntries${++serial}`, priority: 'low' } as never,
  );
  return { refused: () => refused };
}

const change = (jobId: number): JobStateChange => jobStateChange(sampleJob(jobId, { state: 'QUEUED' }), undefined);

describeJobEventsContract(
  'EventBridge (default bus, rule → SQS)',
  async () => {
    if ('skip' in emulator) throw new Error('unreachable: skipped');
    const clients = createAwsClients(emulatorClientOptions(emulator.endpoint), {});
    const queue = await subscriber(clients, emulator.endpoint);
    return {
      publisher: new EventBridgeJobEvents({ client: clients.events }),
      delivered: () => queue.delivered(),
      cleanup: async () => {
        await queue.cleanup();
        clients.destroy();
      },
    };
  },
  skip,
);

describe.skipIf(Boolean(skip))(`EventBridgeJobEvents when EventBridge refuses${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let log: CallLog;
  let queue: Awaited<ReturnType<typeof subscriber>>;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    log = new CallLog();
    clients = createAwsClients({ ...emulatorClientOptions(emulator.endpoint), recorder: log }, {});
  });
  beforeEach(async () => {
    if ('skip' in emulator) return;
    queue = await subscriber(clients, emulator.endpoint);
  });
  afterEach(() => queue.cleanup());
  afterAll(() => clients?.destroy());
  const putEvents = () => log.calls.filter((c) => c.action === 'events:PutEvents').length;

  it('sends an entry refused for a passing reason again, and it is delivered once', async () => {
    const before = putEvents();
    const faults = refuseEntries(clients, 2, 'ThrottlingException');
    const publisher = new EventBridgeJobEvents({ client: clients.events, retryDelayMs: 1 });

    await publisher.publish(change(21));

    expect(faults.refused()).toBe(2);
    expect(putEvents() - before).toBe(3);
    expect((await queue.delivered()).map((e) => (e.detail as JobStateChange).jobId)).toEqual([21]);
  });

  it('gives up after its attempts with a CairnError naming the job and the reason, having delivered nothing', async () => {
    refuseEntries(clients, 3, 'InternalFailure');
    const publisher = new EventBridgeJobEvents({ client: clients.events, retryDelayMs: 1 });

    const error = await publisher.publish(change(22)).then(() => undefined, (e: unknown) => e);

    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).statusCode).toBe(2000);
    expect((error as CairnError).message).toBe('EventBridge refused the event for job 22 new → QUEUED (attempt 3 of 3): InternalFailure: InternalFailure (injected)');
    expect(await queue.delivered()).toEqual([]);
  });

  it('does not retry an entry refused for good (not authorised)', async () => {
    const before = putEvents();
    refuseEntries(clients, 1, 'NotAuthorizedForSourceException');
    const publisher = new EventBridgeJobEvents({ client: clients.events, retryDelayMs: 1 });

    await expect(publisher.publish(change(23))).rejects.toThrow(/attempt 1 of 3\): NotAuthorizedForSourceException/);
    expect(putEvents() - before).toBe(1);
  });

  it('rejects naming the bus when the request itself fails (no such bus)', async () => {
    const publisher = new EventBridgeJobEvents({ client: clients.events, eventBusName: 'no-such-bus' });

    const error = await publisher.publish(change(24)).then(() => undefined, (e: unknown) => e);

    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).message).toMatch(/^EventBridge PutEvents on bus no-such-bus failed for job 24 new → QUEUED: ResourceNotFoundException/);
  });
});

describe.skipIf(Boolean(skip))(`job state changes on the emulator (DynamoDB + EventBridge)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let tables: Awaited<ReturnType<typeof createTables>>;
  const prefix = `events${Date.now()}`;
  let queue: Awaited<ReturnType<typeof subscriber>>;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = createAwsClients(emulatorClientOptions(emulator.endpoint), {});
    tables = await createTables(clients.dynamodb, prefix);
    queue = await subscriber(clients, emulator.endpoint);
  });
  afterAll(async () => {
    await queue?.cleanup();
    if (tables) await deleteTables(clients.dynamodb, prefix);
    clients?.destroy();
  });

  it('a job whose change cannot be published is stored and updated all the same, and the failure is reported', async () => {
    const unpublished: { change: JobStateChange; error: unknown }[] = [];
    const jobs = new PublishingJobStore(
      new DynamoJobStore({ client: clients.documents, tableName: tables.jobs }),
      new EventBridgeJobEvents({ client: clients.events, eventBusName: 'no-such-bus' }),
      (change, error) => unpublished.push({ change, error }),
    );
    const jobId = await jobs.nextJobId();

    await jobs.create(sampleJob(jobId, { state: 'QUEUED' }));
    const active = await jobs.update(jobId, (job) => ({ ...job, state: 'ACTIVE' }));

    expect(active.state).toBe('ACTIVE');
    expect((await jobs.get(jobId))?.state).toBe('ACTIVE');
    expect(unpublished.map(({ change }) => [change.jobId, change.previousState ?? 'new', change.state])).toEqual([
      [jobId, 'new', 'QUEUED'],
      [jobId, 'QUEUED', 'ACTIVE'],
    ]);
    expect(unpublished.every(({ error }) => error instanceof CairnError)).toBe(true);
  });

  it('the jobs Lambda, wired as in AWS, publishes the job it queues, and counts nothing lost', async () => {
    const counted: unknown[] = [];
    const observability: HandlerObservability = { middlewares: [], appendKeys: () => {}, info: () => {}, error: () => {}, count: (metric, value, dimensions) => counted.push({ metric, value, dimensions }) };
    const env = { CONFIG_TABLE: tables.config, JOBS_TABLE: tables.jobs, CATALOG_TABLE: tables.catalog, MEDIA_TABLE: tables.media, AWS_REGION: 'us-east-1' };
    const deps = dynamoDeps(env, clients, observability);
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 'disk', kind: 'disk', path: '/srv/cairn' }));
    const jobsHandler = createJobsHandler(deps, observability);

    const ref = (await jobsHandler({ action: 'queue', request: { client: 'host1', selections: ['/etc'], storageUnit: 'disk', executionName: 'manual.host1.1' } })) as { jobId: number };
    await jobsHandler({ action: 'finish', jobId: ref.jobId, outcome: { statusCode: 1 } });

    const delivered = await queue.delivered();
    expect(delivered).toHaveLength(2);
    expect(delivered.map((e) => e.detail)).toEqual(expect.arrayContaining([
      expect.objectContaining({ jobId: ref.jobId, kind: 'backup', client: 'host1', policy: 'manual', state: 'QUEUED', executionName: 'manual.host1.1' }),
      expect.objectContaining({ jobId: ref.jobId, state: 'DONE', previousState: 'QUEUED', statusCode: 1, statusText: expect.any(String) }),
    ]));
    expect(counted).toEqual([{ metric: 'JobsEnded', value: 1, dimensions: { StatusClass: 'partial' } }]);
  });
});
