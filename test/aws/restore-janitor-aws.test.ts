import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';
import { executionEvent } from '../iam/record-components.ts';
import { sampleRestoreJob } from '../contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

const AT = new Date('2026-11-24T21:00:00Z');

/**
 * Restore executions and the janitor on the emulator: the Jobs and Media
 * tables on DynamoDB (the media manager on the Media table, as the Lambdas
 * wire it), a restore job holding a drive and a volume as its Reserve state
 * left it, the janitor handed EventBridge events of the restore-job state
 * machine, the sweep describing restore executions on that state machine.
 */
describe.skipIf(Boolean(skip))(`the janitor and the sweep on restore executions, on DynamoDB and Step Functions${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let stores: { config: DynamoConfigStore; jobs: DynamoJobStore; catalog: DynamoCatalogStore; media: DynamoMediaStore; emm: MediaDatabase; clock: FakeClock };
  let backupArn: string;
  let restoreArn: string;
  let janitor: ReturnType<typeof createJanitorHandler>;
  let nextJob = 1;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `rjanitor${Date.now()}`);
    const client = clients.documents;
    stores = {
      config: new DynamoConfigStore({ client, tableName: tables.config }),
      jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
      catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
      media: new DynamoMediaStore({ client, tableName: tables.media }),
      emm: dynamoMediaDatabase({ client, tableName: tables.media }),
      clock: new FakeClock('2026-11-24T22:00:00Z'),
    };
    await stores.emm.addRobot({ name: 'vtl', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/var/lib/vtl.conf' } }, AT);
    for (const index of [0, 1]) await stores.emm.addDrive({ name: `vtl-d${index}`, robot: 'vtl', index, path: `/var/lib/vtl/drive${index}`, blockSize: 65536 });
    for (const slot of [1, 2]) await stores.emm.addMedia(newMedia(`R0000${slot}`, AT, { robot: 'vtl', slot }));
    const machine = async (name: string) =>
      (await clients.sfn.send(new CreateStateMachineCommand({ name: `${name}-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Wait', Seconds: 3600, End: true } } }) }))).stateMachineArn!;
    backupArn = await machine('backup-job');
    restoreArn = await machine('restore-job');
    janitor = createJanitorHandler({ ...stores, stateMachineArn: backupArn, restoreStateMachineArn: restoreArn });
  });
  afterAll(() => clients?.destroy());

  /** A restore job reading `mediaId` in `drive`, quiet since long before the clock. */
  async function readingRestore(executionName: string, drive: string, mediaId: string): Promise<number> {
    const jobId = nextJob++;
    await stores.jobs.create(sampleRestoreJob(jobId, { state: 'ACTIVE', executionName, updatedAt: AT.toISOString() }));
    const granted = await stores.media.reserve({ jobId, resources: [{ kind: 'drive', storageUnit: 'tape1', drive }, { kind: 'volume', pool: 'scratch', mediaId }], at: AT });
    expect(granted.granted).toBe(true);
    return jobId;
  }

  it('ends the restore job of a stopped restore execution with 150, records the drive as holding its volume and frees both', async () => {
    const jobId = await readingRestore('cli-restore-stopped', 'vtl-d0', 'R00001');

    const action = await janitor(executionEvent(restoreArn, 'cli-restore-stopped', 'ABORTED'));

    expect(action).toMatchObject({ jobId, action: 'ended', statusCode: 150, released: true, driveLeftLoaded: { drive: 'vtl-d0', mediaId: 'R00001' } });
    expect(await stores.jobs.get(jobId)).toMatchObject({ type: 'restore', state: 'DONE', statusCode: 150 });
    expect((await stores.media.listReservations()).filter((r) => r.jobId === jobId)).toEqual([]);
    expect(await stores.emm.getDrive('vtl-d0')).toMatchObject({ loaded: { mediaId: 'R00001' } });
    // A repeated event changes nothing.
    expect(await janitor(executionEvent(restoreArn, 'cli-restore-stopped', 'ABORTED'))).toMatchObject({ action: 'already-ended', statusCode: 150, released: false });
  });

  it('the sweep ends a restore job whose restore execution was stopped, and leaves one whose execution runs', async () => {
    const stopped = `r-stopped-${Date.now()}`;
    const running = `r-running-${Date.now()}`;
    const startedStopped = await clients.sfn.send(new StartExecutionCommand({ stateMachineArn: restoreArn, name: stopped, input: '{}' }));
    await clients.sfn.send(new StartExecutionCommand({ stateMachineArn: restoreArn, name: running, input: '{}' }));
    await clients.sfn.send(new StopExecutionCommand({ executionArn: startedStopped.executionArn }));
    const stoppedJob = await readingRestore(stopped, 'vtl-d1', 'R00002');
    const runningJob = nextJob++;
    await stores.jobs.create(sampleRestoreJob(runningJob, { state: 'ACTIVE', executionName: running, updatedAt: AT.toISOString() }));
    const tick = createSchedulerHandler({
      ...stores,
      starter: new MemoryExecutionStarter(),
      sweep: {
        executions: new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn: backupArn }),
        restoreExecutions: new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn: restoreArn }),
        media: stores.media,
        emm: stores.emm,
      },
    });

    const result = await tick();

    expect(result.swept?.problems).toEqual([]);
    expect(result.swept?.ended).toEqual([expect.objectContaining({ jobId: stoppedJob, statusCode: 150, released: true, driveLeftLoaded: { drive: 'vtl-d1', mediaId: 'R00002' } })]);
    expect((await stores.jobs.get(runningJob))?.state).toBe('ACTIVE');
    expect(await stores.emm.getDrive('vtl-d1')).toMatchObject({ loaded: { mediaId: 'R00002' } });
  });
});
