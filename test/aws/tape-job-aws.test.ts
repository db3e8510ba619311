import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { dynamoDeps } from '#lambdas/dynamo-deps.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createCatalogHandler } from '#lambdas/catalog-handler.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { loadBackupJobDefinition, loadRestoreJobDefinition } from '#local/asl-definition.ts';
import { createRestoreHandler } from '#lambdas/restore-handler.ts';
import { runTask } from '#agent/transport/run-task.ts';
import { storageUnitOpener } from '#agent/transport/open-storage-unit.ts';
import { toWorkflowError } from '#core/errors.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { TaskToken } from '#core/ports/task-token.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : diskChangerSkipReason();

const TAPE_HOST = 'mi-0aaaaaaaaaaaaaaa1';
const OTHER_HOST = 'mi-0bbbbbbbbbbbbbbb2';
const AT = new Date('2026-12-03T04:00:00.000Z');

type Handler = (input: unknown) => Promise<unknown>;

/**
 * A tape backup job in the cloud wiring: the real backup-job ASL in process,
 * the broker, catalog and jobs handlers wired by lambdas/dynamo-deps.ts as the
 * Lambdas are (the media manager on the Media table, on the emulator), and the
 * Mount, Stream and Unmount commands run by the agent's own entry (`runTask`)
 * on Debian's disk-changer as a real virtual library. The SSM send is played
 * in process: each agent Task records the instance its parameters target.
 */
describe.skipIf(Boolean(skip))(`a tape backup job on DynamoDB, routed to the robot's agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let library: DiskChangerLibrary;
  let deps: ReturnType<typeof dynamoDeps>;
  let jobsTable: string;
  let source: string;
  /** The image the first test writes; the restore test reads it back. */
  let writtenImage: string | undefined;
  /** The agent Tasks the workflow sent: state, instance, command kind. */
  const sent: { state: string; instance: string; kind: string }[] = [];

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `tapeaws${Date.now()}`);
    jobsTable = tables.jobs;
    deps = dynamoDeps({ CONFIG_TABLE: tables.config, JOBS_TABLE: tables.jobs, CATALOG_TABLE: tables.catalog, MEDIA_TABLE: tables.media, AWS_REGION: 'us-east-1' }, clients);
    library = diskChangerLibrary({ slots: 4, drives: 1, barcodes: { 1: 'AWT001', 2: 'AWT002' } });
    await deps.config.putClient({ name: 'tapehost', instanceId: TAPE_HOST });
    await deps.config.putClient({ name: 'webhost', instanceId: OTHER_HOST });
    // The same host backed up under a second client name: served by the robot's instance.
    await deps.config.putClient({ name: 'tapehost-db', instanceId: TAPE_HOST });
    await deps.emm.addRobot({ name: 'lib1', client: 'tapehost', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 64 * 1024 * 1024 }, AT);
    await deps.emm.addDrive({ name: 'lib1-d0', robot: 'lib1', index: 0, path: library.drives[0]!, blockSize: 64 * 1024 });
    await deps.emm.addPool({ name: 'daily' });
    await deps.emm.addMedia(newMedia('AWT001', AT, { robot: 'lib1', slot: 1 }));
    await deps.emm.addMedia(newMedia('AWT002', AT, { robot: 'lib1', slot: 2 }));
    // One try: a refused job ends at once instead of waiting out the Job Retry Delay.
    await deps.config.putSetting('backupTries', { tries: 1, withinHours: 1 });
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(library.base, 'index') } }));
    source = join(library.base, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
  });
  afterAll(async () => {
    clients?.destroy();
    await library?.cleanup();
    if (!('skip' in emulator)) await emulator.stop();
  });

  /** The agent as the SSM document runs it, answering the Task with what it sends its token. */
  const agent = (state: string): Handler => async (input) => {
    const { InstanceIds, Parameters } = input as { InstanceIds: string[]; Parameters: { command: string[]; taskToken: string[] } };
    const command = Parameters.command[0]!;
    sent.push({ state, instance: InstanceIds.join(','), kind: (JSON.parse(command) as { kind: string }).kind });
    let answer: { output: unknown } | { error: Error } | undefined;
    const token: TaskToken = {
      heartbeat: async () => undefined,
      succeed: async (output) => void (answer = { output: JSON.parse(JSON.stringify(output)) as unknown }),
      fail: async (error) => void (answer = { error: toWorkflowError(error) as Error }),
    };
    const openStore = storageUnitOpener(async () => {
      throw new Error('this test writes no S3 unit');
    });
    await runTask({ command }, { token, jobs: new DynamoJobStore({ client: clients.documents, tableName: jobsTable }), openStore, clock: systemClock });
    if (answer === undefined) throw new Error(`the agent sent no answer for ${state}`);
    if ('error' in answer) throw answer.error;
    return answer.output;
  };

  async function runJob(client: string): Promise<{ output?: Record<string, unknown>; error?: string }> {
    const broker = createBrokerHandler({ ...deps, agents: 'managed-instances' });
    const jobs = createJobsHandler(deps);
    const catalog = createCatalogHandler(deps);
    const machine = new StateMachine(loadBackupJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
    const execution = machine.run({ request: { client, selections: [source], storageUnit: 'tape1', owner: 'tape-aws' } } as never, {
      context: { Task: { Token: 'tape-aws-token' } } as never,
      overrides: {
        taskResourceLocalHandlers: { Queue: jobs, RetryDecision: jobs, EndJob: jobs, Reserve: broker, Release: broker, Catalog: catalog, Mount: agent('Mount'), Stream: agent('Stream'), Unmount: agent('Unmount') } as never,
      },
    });
    try {
      return { output: (await execution.result) as Record<string, unknown> };
    } catch (error) {
      return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }

  it('grants a drive and a volume from the Media table, mounts, writes and unmounts on the robot\'s instance, and records the tape files in the media manager', async () => {
    sent.length = 0;
    const run = await runJob('tapehost-db');

    expect(run.error).toBeUndefined();
    expect(run.output).toMatchObject({ reservation: { granted: true, agentInstanceId: TAPE_HOST, tape: { mount: { task: { drive: { name: 'lib1-d0' } } } } }, final: { statusCode: 0 } });
    expect(sent).toEqual([
      { state: 'Mount', instance: TAPE_HOST, kind: 'mount' },
      { state: 'Stream', instance: TAPE_HOST, kind: 'backup' },
      { state: 'Unmount', instance: TAPE_HOST, kind: 'unmount' },
    ]);
    const image = (run.output!.image as { backupId: string }).backupId;
    writtenImage = image;
    const copy = (await deps.catalog.getImage(image))!.copies[0]!;
    const volume = copy.fragments.map((f) => f.location).find((l) => l.kind === 'tape');
    expect(volume).toMatchObject({ kind: 'tape', mediaId: expect.stringMatching(/^AWT00[12]$/), fileNumber: 1 });
    const media = (await deps.emm.getMedia((volume as { mediaId: string }).mediaId))!;
    // Moved from scratch into the unit's pool by the broker, written by the catalog's record of the image.
    expect(media).toMatchObject({ pool: 'daily', state: 'ACTIVE', tapeFiles: 2, mountCount: 1 });
    expect(media.images).toEqual([image]);
    // Kept loaded for the next job of the pool (mediaUnmountDelaySeconds), recorded by Release.
    expect(await deps.emm.getDrive('lib1-d0')).toMatchObject({ loaded: { mediaId: media.mediaId } });
    expect(await deps.media.listReservations()).toEqual([]);
    // The broker Lambda recorded on the job (DynamoDB) the volume and the drive it granted.
    const job = (await deps.jobs.list({ limit: 10 })).find((j) => j.type === 'backup' && j.backupId === image);
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, volumes: [media.mediaId], drives: ['lib1-d0'] });
  }, 60_000);

  it('refuses a client on another host (219) and sends it nothing: the robot\'s agent would back up its own files', async () => {
    sent.length = 0;
    const run = await runJob('webhost');

    expect(run.error).toMatch(/Status219|status code above 1/);
    expect(sent).toEqual([]);
    const [job] = await deps.jobs.list({ limit: 1 });
    expect(job).toMatchObject({ state: 'DONE', statusCode: 219, error: expect.stringContaining(`robot lib1, attached to instance ${TAPE_HOST} (client tapehost); client webhost runs on instance ${OTHER_HOST}`) });
    expect(await deps.media.listReservations()).toEqual([]);
  }, 60_000);
  it('restores that image through the restore-job ASL as the stack runs it: the restore Lambda\'s Queue, Plan, Reserve and RecordRead, Read on the robot\'s instance', async (ctx) => {
    if (writtenImage === undefined) return ctx.skip('the backup test above wrote no image');
    sent.length = 0;
    // As lambdas/restore.ts wires it: no planner (every volume of the image is mounted), agents on managed instances.
    const restore = createRestoreHandler({ ...deps, agents: 'managed-instances' });
    const broker = createBrokerHandler({ ...deps, agents: 'managed-instances' });
    const jobs = createJobsHandler(deps);
    const target = join(library.base, 'restored');
    const machine = new StateMachine(loadRestoreJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
    const execution = machine.run({ request: { backupId: writtenImage, targetDir: target, owner: 'restore-aws' } } as never, {
      context: { Task: { Token: 'restore-aws-token' } } as never,
      overrides: {
        taskResourceLocalHandlers: { Queue: restore, Plan: restore, Reserve: restore, RecordRead: restore, NextCopy: restore, Release: broker, EndJob: jobs, Mount: agent('Mount'), Read: agent('Read'), Unmount: agent('Unmount') } as never,
      },
    });
    const output = (await execution.result) as Record<string, unknown>;

    expect(output).toMatchObject({ reservation: { agentInstanceId: TAPE_HOST } });
    expect(sent).toEqual([
      { state: 'Mount', instance: TAPE_HOST, kind: 'mount' },
      { state: 'Read', instance: TAPE_HOST, kind: 'restore' },
      { state: 'Unmount', instance: TAPE_HOST, kind: 'unmount' },
    ]);
    const job = (await deps.jobs.list({ limit: 10 })).find((j) => j.type === 'restore' && j.owner === 'restore-aws');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, volumes: [{ read: true }], drives: ['lib1-d0'] });
    // The tree came back from tape, every file, mode, link and time as backed up.
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    expect(await deps.media.listReservations()).toEqual([]);
  }, 60_000);
});
