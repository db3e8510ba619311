import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';
import { executionEvent } from '../iam/record-components.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/**
 * The janitor and the sweep on the emulator: the Jobs, Media and Catalog
 * tables on DynamoDB, the job queued and granted its slot by the real jobs and
 * broker handlers, the janitor handed EventBridge events of the real shape,
 * the sweep reading executions through DescribeExecution. The storage unit has
 * one slot, so a second job can reserve only once the first one's is released.
 */
describe.skipIf(Boolean(skip))(`the execution janitor on DynamoDB and Step Functions${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let stores: { config: DynamoConfigStore; jobs: DynamoJobStore; catalog: DynamoCatalogStore; media: DynamoMediaStore; clock: FakeClock };
  let stateMachineArn: string;
  let janitor: ReturnType<typeof createJanitorHandler>;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `janitor${Date.now()}`);
    const client = clients.documents;
    stores = {
      config: new DynamoConfigStore({ client, tableName: tables.config }),
      jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
      catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
      media: new DynamoMediaStore({ client, tableName: tables.media }),
      clock: new FakeClock('2026-11-24T22:00:00Z'),
    };
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'one-slot', kind: 's3', bucket: 'cairn-images', prefix: 'site1', maxConcurrentJobs: 1 }));
    const created = await clients.sfn.send(new CreateStateMachineCommand({ name: `backup-job-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }) }));
    stateMachineArn = created.stateMachineArn!;
    janitor = createJanitorHandler({ ...stores, stateMachineArn });
  });
  afterAll(() => clients?.destroy());

  const jobsHandler = () => createJobsHandler(stores);
  const broker = () => createBrokerHandler(stores);
  /** Queues a job as the Queue state does, and asks for its slot as Reserve does: whether it got it. */
  async function queueAndReserve(executionName: string, client: string): Promise<{ jobId: number; granted: boolean }> {
    stores.clock.advance(1000);
    const { jobId } = (await jobsHandler()({ action: 'queue', request: { client, selections: ['/data'], storageUnit: 'one-slot', executionName } })) as { jobId: number };
    const { granted } = (await broker()({ action: 'reserve', jobId })) as { granted: boolean };
    return { jobId, granted };
  }
  /** The slot goes to the waiting job once it is free; its own slot is given back for the next case. */
  async function waitingJobGetsTheSlot(jobId: number): Promise<boolean> {
    const { granted } = (await broker()({ action: 'reserve', jobId })) as { granted: boolean };
    if (granted) await broker()({ action: 'release', jobId });
    return granted;
  }

  const cases = [
    { status: 'ABORTED', error: null, cause: null, statusCode: 150 },
    { status: 'TIMED_OUT', error: null, cause: null, statusCode: 41 },
    // EndJob failed after its retries: the outcome (a media write error) rides in the cause.
    { status: 'FAILED', error: 'JobNotEnded', cause: JSON.stringify({ jobId: 0, outcome: { failure: { Error: 'Status84', Cause: 'tape full' } }, endFailure: { Error: 'Lambda.ServiceException' } }), statusCode: 84 },
  ] as const;

  for (const { status, error, cause, statusCode } of cases) {
    it(`ends the job of an execution that ended ${status} with ${statusCode}, and releases its slot for the job waiting for it`, async () => {
      const name = `e-${status.toLowerCase()}-${Date.now()}`;
      const first = await queueAndReserve(name, `host-${status.toLowerCase()}`);
      const second = await queueAndReserve(`${name}-next`, `host-${status.toLowerCase()}-next`);
      expect([first.granted, second.granted]).toEqual([true, false]);

      const action = await janitor(executionEvent(stateMachineArn, name, status, error, cause));

      expect(action).toMatchObject({ executionName: name, jobId: first.jobId, action: 'ended', statusCode, released: true });
      expect(await stores.jobs.get(first.jobId)).toMatchObject({ state: 'DONE', statusCode });
      expect(await waitingJobGetsTheSlot(second.jobId)).toBe(true);
      // A repeated event changes nothing.
      expect(await janitor(executionEvent(stateMachineArn, name, status, error, cause))).toMatchObject({ action: 'already-ended', statusCode, released: false });
      await stores.jobs.update(second.jobId, (job) => ({ ...job, state: 'DONE', statusCode: 0 }));
    });
  }

  it('refuses the event of another state machine and changes nothing', async () => {
    const name = `e-other-${Date.now()}`;
    const { jobId } = await queueAndReserve(name, 'host-other');
    const other = stateMachineArn.replace(/:stateMachine:.*$/, ':stateMachine:someone-else');

    await expect(janitor(executionEvent(other, name, 'ABORTED'))).rejects.toMatchObject({ name: 'Status20' });
    expect((await stores.jobs.get(jobId))?.state).toBe('ACTIVE');
    await janitor(executionEvent(stateMachineArn, name, 'ABORTED'));
  });

  it('the sweep ends a job whose execution does not exist (2002) and one whose execution was stopped (150), not one still running', async () => {
    const executions = new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn });
    const tick = createSchedulerHandler({ ...stores, starter: new MemoryExecutionStarter(), sweep: { executions, media: stores.media } });
    const running = `e-running-${Date.now()}`;
    const started = await clients.sfn.send(new StartExecutionCommand({ stateMachineArn, name: running, input: '{}' }));
    const gone = await queueAndReserve(`e-never-started-${Date.now()}`, 'host-gone');
    const live = await queueAndReserve(running, 'host-running');
    expect([gone.granted, live.granted]).toEqual([true, false]);
    // The sweep looks only at jobs quiet for a while.
    stores.clock.advance(3600_000);

    const first = await tick();

    expect(first.swept?.ended).toEqual([expect.objectContaining({ jobId: gone.jobId, action: 'ended', statusCode: 2002, released: true })]);
    expect(first.swept?.problems).toEqual([]);
    expect(await stores.jobs.get(gone.jobId)).toMatchObject({ state: 'DONE', statusCode: 2002 });
    expect((await stores.jobs.get(live.jobId))?.state).toBe('QUEUED');
    expect(await waitingJobGetsTheSlot(live.jobId)).toBe(true);

    await clients.sfn.send(new StopExecutionCommand({ executionArn: started.executionArn }));
    stores.clock.advance(3600_000);
    const second = await tick();

    expect(second.swept?.ended).toEqual([expect.objectContaining({ jobId: live.jobId, statusCode: 150 })]);
    expect(await stores.jobs.get(live.jobId)).toMatchObject({ state: 'DONE', statusCode: 150, error: expect.stringContaining(`the execution ${running} was stopped`) });
  });
});
