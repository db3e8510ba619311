import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateDocumentCommand } from '@aws-sdk/client-ssm';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { SsmOperatorCommands } from '#aws/ssm-agent-command.ts';
import { holdersOfUnloads } from '#core/media/idle-unload.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { FakeClock } from '#core/ports/clock.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { AGENT_BUNDLE_NAME, buildAgentBundle } from '../../scripts/build.ts';
import { agentDocumentContent } from '../../cdk/constructs/agent-document.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';
import { SsmShim } from '../support/ssm-shim.ts';
import { SsmInvocationProxy } from '../support/ssm-invocation-proxy.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : diskChangerSkipReason();
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/** The library's host: the shim plays the SSM Agent of this managed instance. */
const TAPE_HOST = 'mi-0123456789abcdef2';
const DOCUMENT = `cairn-RunAgentCommand-idle-${Date.now()}`;
const LOADED_AT = new Date('2026-12-03T04:00:00.000Z');
const DELAY = 180;

/**
 * The scheduler Lambda's idle drive unload on the emulator: the Media,
 * Jobs and Config tables on DynamoDB, the RunAgentCommand document as the
 * stack defines it (the real agent bundle, fetched from a bucket), the shim
 * playing the SSM Agent of the library's host (it runs `cairn-agent
 * run-command` against Debian's disk-changer), and GetCommandInvocation
 * answered from the shim's runs (moto keeps no output and runs nothing).
 */
describe.skipIf(Boolean(skip))(`the scheduler unloads idle drives through the robot's agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let ssmClients: AwsClients;
  let library: DiskChangerLibrary;
  let shim: SsmShim;
  let proxy: SsmInvocationProxy;
  let work: string;
  let stores: { config: DynamoConfigStore; jobs: DynamoJobStore; catalog: DynamoCatalogStore; media: DynamoMediaStore; emm: MediaDatabase; clock: FakeClock };
  let tick: ReturnType<typeof createSchedulerHandler>;

  beforeAll(async () => {
    if (skip) return;
    const endpoint = (emulator as { endpoint: string }).endpoint;
    work = mkdtempSync(join(tmpdir(), 'cairn-idle-unload-'));
    const bundle = join(work, AGENT_BUNDLE_NAME);
    await buildAgentBundle(ROOT, bundle);
    clients = emulatorClients(endpoint);
    const tables = await createTables(clients.dynamodb, `idle${Date.now()}`);
    const client = clients.documents;
    stores = {
      config: new DynamoConfigStore({ client, tableName: tables.config }),
      jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
      catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
      media: new DynamoMediaStore({ client, tableName: tables.media }),
      emm: dynamoMediaDatabase({ client, tableName: tables.media }),
      clock: new FakeClock(LOADED_AT),
    };
    await stores.config.putClient({ name: 'tapehost', instanceId: TAPE_HOST });
    library = diskChangerLibrary({ slots: 4, drives: 2, barcodes: { 1: 'IDL001', 2: 'IDL002' } });
    const changer = { type: 'changer-script' as const, script: DISK_CHANGER, changerDevice: library.changerDevice };
    await stores.emm.addRobot({ name: 'vtl', client: 'tapehost', changer }, LOADED_AT);
    for (const index of [0, 1]) await stores.emm.addDrive({ name: `vtl-d${index}`, robot: 'vtl', index, path: library.drives[index]!, blockSize: 64 * 1024 });
    // A robot whose changer script is not on the host: the agent's unload fails there.
    await stores.emm.addRobot({ name: 'broken', client: 'tapehost', changer: { type: 'changer-script', script: join(work, 'no-such-changer'), changerDevice: library.changerDevice } }, LOADED_AT);
    await stores.emm.addDrive({ name: 'broken-d0', robot: 'broken', index: 0, path: join(work, 'drive0'), blockSize: 64 * 1024 });
    await stores.emm.addPool({ name: 'p1' });
    for (const [mediaId, robot, slot] of [['IDL001', 'vtl', 1], ['IDL002', 'vtl', 2], ['BRK001', 'broken', 1]] as const) {
      await stores.emm.addMedia({ ...newMedia(mediaId, LOADED_AT, { robot, slot }), pool: 'p1' });
    }
    for (const robot of ['vtl', 'broken']) {
      await stores.config.putStorageUnit(StorageUnit.parse({ name: `tape-${robot}`, kind: 'tape', robot, pool: 'p1', mediaUnmountDelaySeconds: DELAY, index: { name: 'idx', kind: 'disk', path: join(work, 'index') } }));
    }

    const sha256 = createHash('sha256').update(readFileSync(bundle)).digest('hex');
    const fileName = `${sha256.slice(0, 16)}.mjs`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'cairn-assets-idle' }));
    await clients.s3.send(new PutObjectCommand({ Bucket: 'cairn-assets-idle', Key: fileName, Body: readFileSync(bundle) }));
    const content = agentDocumentContent({ fileName, sha256, region: 'us-east-1', jobsTable: tables.jobs }, { httpUrl: `${endpoint}/cairn-assets-idle/${fileName}` }, 'run-command');
    await clients.ssm.send(new CreateDocumentCommand({ Name: DOCUMENT, DocumentType: 'Command', DocumentFormat: 'JSON', Content: JSON.stringify(content) }));
    shim = new SsmShim({ ssm: clients.ssm, s3: clients.s3, instanceId: TAPE_HOST, documentName: DOCUMENT, env: { PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: work }, pollMs: 100 });
    await shim.start();
    proxy = new SsmInvocationProxy(endpoint, () => shim.runs);
    ssmClients = emulatorClients(await proxy.start());

    tick = createSchedulerHandler({
      ...stores,
      starter: new MemoryExecutionStarter(),
      sweep: { executions: new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:none' }), media: stores.media, emm: stores.emm, spared: () => holdersOfUnloads(stores.emm) },
      idleUnload: { media: stores.media, emm: stores.emm, agents: new SsmOperatorCommands({ client: ssmClients.ssm, documentName: DOCUMENT }) },
    });
  }, 120_000);
  afterAll(async () => {
    await shim?.stop();
    await proxy?.stop();
    clients?.destroy();
    ssmClients?.destroy();
    await library?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Ticks until no unload is in flight any more (the shim runs the agent in the background). */
  async function tickUntilSettled(): Promise<Awaited<ReturnType<typeof tick>>[]> {
    const results = [];
    for (let i = 0; i < 100; i++) {
      const result = await tick();
      results.push(result);
      if ((result.idleUnload?.pending.length ?? 0) === 0) return results;
      await sleep(200);
    }
    throw new Error('the unload never ended');
  }

  it('unloads a drive idle past its unit\'s delay through the agent, holds it meanwhile, and records it empty only once the agent answered', async () => {
    await library.changer.load(1, 0);
    await stores.emm.setDriveLoaded('vtl-d0', 'IDL001', LOADED_AT);

    // Not idle long enough: nothing is sent.
    stores.clock.set(new Date(LOADED_AT.getTime() + (DELAY - 10) * 1000));
    expect((await tick()).idleUnload).toEqual({ sent: [], unloaded: [], pending: [], problems: [] });

    stores.clock.set(new Date(LOADED_AT.getTime() + (DELAY + 10) * 1000));
    const first = await tick();

    expect(first.idleUnload?.sent).toEqual([expect.objectContaining({ drive: 'vtl-d0', mediaId: 'IDL001', instanceId: TAPE_HOST })]);
    const { holder } = first.idleUnload!.sent[0]!;
    // Still recorded loaded, the unload in flight, and held: no job can take the drive or the volume meanwhile.
    expect(await stores.emm.getDrive('vtl-d0')).toMatchObject({ loaded: { mediaId: 'IDL001' }, unloading: { holder, mediaId: 'IDL001', instanceId: TAPE_HOST } });
    const racing = await stores.media.reserve({ jobId: 4242, resources: [{ kind: 'drive', storageUnit: 'tape-vtl', drive: 'vtl-d0' }], at: stores.clock.now() });
    expect(racing.granted).toBe(false);
    // The sweep (same tick) spares the holder: it is no job, and no stranded reservation.
    expect(first.swept?.released).toEqual([]);

    const rest = await tickUntilSettled();

    expect(rest.at(-1)?.idleUnload?.unloaded).toEqual([{ drive: 'vtl-d0', mediaId: 'IDL001', unloaded: true }]);
    expect(rest.flatMap((r) => r.idleUnload?.problems ?? [])).toEqual([]);
    const drive = await stores.emm.getDrive('vtl-d0');
    expect(drive?.loaded).toBeUndefined();
    expect(drive?.unloading).toBeUndefined();
    expect((await library.changer.loaded(0)).full).toBe(false);
    expect((await stores.media.listReservations()).filter((r) => r.jobId === holder)).toEqual([]);
    expect(shim.runs.at(-1)).toMatchObject({ documentName: DOCUMENT, exitCode: 0 });
  }, 120_000);

  it('never unloads a drive a job holds', async () => {
    await stores.emm.setDriveLoaded('vtl-d1', 'IDL002', LOADED_AT);
    const held = await stores.media.reserve({ jobId: 5151, resources: [{ kind: 'drive', storageUnit: 'tape-vtl', drive: 'vtl-d1' }], at: LOADED_AT });
    expect(held.granted).toBe(true);
    stores.clock.set(new Date(LOADED_AT.getTime() + 3600_000));
    try {
      const result = await tick();
      expect(result.idleUnload?.sent.filter((s) => s.drive === 'vtl-d1')).toEqual([]);
      expect((await stores.emm.getDrive('vtl-d1'))?.unloading).toBeUndefined();
    } finally {
      await stores.media.release(5151);
      await stores.emm.setDriveLoaded('vtl-d1', undefined, LOADED_AT);
    }
  }, 60_000);

  it('keeps the drive recorded loaded when the agent fails to unload it, frees the hold, and says why', async () => {
    await stores.emm.setDriveLoaded('broken-d0', 'BRK001', LOADED_AT);
    stores.clock.set(new Date(LOADED_AT.getTime() + 7200_000));

    const first = await tick();
    expect(first.idleUnload?.sent).toEqual([expect.objectContaining({ drive: 'broken-d0' })]);
    const rest = await tickUntilSettled();

    const problems = rest.flatMap((r) => r.idleUnload?.problems ?? []);
    expect(problems).toEqual([expect.stringMatching(/^drive broken-d0: the unload of BRK001 failed \(the agent on mi-0123456789abcdef2 answered status 174: /)]);
    const drive = await stores.emm.getDrive('broken-d0');
    expect(drive?.loaded?.mediaId).toBe('BRK001');
    expect(drive?.unloading).toBeUndefined();
    expect((await stores.media.listReservations()).filter((r) => r.jobId === first.idleUnload!.sent[0]!.holder)).toEqual([]);
  }, 120_000);
});
