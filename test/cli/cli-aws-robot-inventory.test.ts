import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateDocumentCommand } from '@aws-sdk/client-ssm';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { cliAwsEnv } from './cli-process.ts';
import { SsmShim } from '../support/ssm-shim.ts';
import { SsmInvocationProxy } from '../support/ssm-invocation-proxy.ts';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { AGENT_COMMAND_STEP } from '#aws/ssm-agent-command.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { AGENT_BUNDLE_NAME, buildAgentBundle } from '../../scripts/build.ts';
import { agentDocumentContent } from '../../cdk/constructs/agent-document.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const ROOT = join(import.meta.dirname, '..', '..');
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : diskChangerSkipReason();

/** The library's host: the shim plays the SSM Agent of this managed instance, and of no other. */
const TAPE_HOST = 'mi-0123456789abcdef1';
const DOCUMENT = `cairn-RunAgentCommand-${Date.now()}`;
const AT = new Date('2026-12-03T04:00:00.000Z');

/**
 * `cairn --aws robot inventory NAME` through SSM: the CLI sends the
 * RunAgentCommand document (as the stack defines it, with the real agent
 * bundle in a bucket) to the instance of the robot's client, the shim runs
 * it as the SSM Agent would (download, sha256 check, `cairn-agent
 * run-command`) against Debian's disk-changer, and the CLI reads the agent's
 * answer from GetCommandInvocation (served from the shim's run: moto keeps no
 * output) and applies it to the Media table.
 */
describe.skipIf(Boolean(skip))(`cairn --aws robot inventory on the robot's agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let library: DiskChangerLibrary;
  let shim: SsmShim;
  let proxy: SsmInvocationProxy;
  let endpoint: string;
  let env: NodeJS.ProcessEnv;
  let emm: MediaDatabase;
  let work: string;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-inventory-ssm-'));
    const bundle = join(work, AGENT_BUNDLE_NAME);
    await buildAgentBundle(ROOT, bundle);
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `invssm${Date.now()}`);
    const config = new DynamoConfigStore({ client: clients.documents, tableName: tables.config });
    await config.putClient({ name: 'tapehost', instanceId: TAPE_HOST });
    emm = dynamoMediaDatabase({ client: clients.documents, tableName: tables.media });
    library = diskChangerLibrary({ slots: 4, drives: 1, barcodes: { 1: 'SSM001', 3: 'SSM003' } });
    await emm.addRobot({ name: 'vtl', client: 'tapehost', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice } }, AT);
    await emm.addDrive({ name: 'vtl-d0', robot: 'vtl', index: 0, path: library.drives[0]!, blockSize: 64 * 1024 });
    await emm.addRobot({ name: 'faraway', client: 'nohost', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice } }, AT);
    await emm.addDrive({ name: 'faraway-d0', robot: 'faraway', index: 0, path: library.drives[0]!, blockSize: 64 * 1024 });
    // A changer script that is not on the host: the agent's changer fails.
    await emm.addRobot({ name: 'broken', client: 'tapehost', changer: { type: 'changer-script', script: join(work, 'no-such-changer'), changerDevice: library.changerDevice } }, AT);
    await emm.addDrive({ name: 'broken-d0', robot: 'broken', index: 0, path: join(work, 'drive0'), blockSize: 64 * 1024 });

    // The stack's operator document, fetching the bundle the way the deployed one does.
    const sha256 = createHash('sha256').update(readFileSync(bundle)).digest('hex');
    const fileName = `${sha256.slice(0, 16)}.mjs`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'cairn-assets-inv' }));
    await clients.s3.send(new PutObjectCommand({ Bucket: 'cairn-assets-inv', Key: fileName, Body: readFileSync(bundle) }));
    const content = agentDocumentContent({ fileName, sha256, region: 'us-east-1', jobsTable: tables.jobs }, { httpUrl: `${emulator.endpoint}/cairn-assets-inv/${fileName}` }, 'run-command');
    await clients.ssm.send(new CreateDocumentCommand({ Name: DOCUMENT, DocumentType: 'Command', DocumentFormat: 'JSON', Content: JSON.stringify(content) }));

    shim = new SsmShim({ ssm: clients.ssm, s3: clients.s3, instanceId: TAPE_HOST, documentName: DOCUMENT, env: { PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: work }, pollMs: 100 });
    await shim.start();
    proxy = new SsmInvocationProxy(emulator.endpoint, () => shim.runs);
    endpoint = await proxy.start();
    env = cliAwsEnv(tables, { CAIRN_AGENT_COMMAND_DOCUMENT: DOCUMENT });
  }, 120_000);
  afterAll(async () => {
    await shim?.stop();
    await proxy?.stop();
    clients?.destroy();
    await library?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  const cairn = async (...args: string[]): Promise<{ code: number; body: Record<string, unknown> }> => {
    const argv = [bin, '--aws', '--endpoint', endpoint, ...args, '--json'];
    return run(process.execPath, argv, { env }).then(
      (done) => ({ code: 0, body: JSON.parse(done.stdout) as never }),
      (failed: { code: number; stdout: string }) => ({ code: failed.code, body: JSON.parse(failed.stdout) as never }),
    );
  };

  it('reads the library on the robot\'s host through SSM and applies what it found to the Media table', async () => {
    const inventory = await cairn('robot', 'inventory', 'vtl');

    expect(inventory).toMatchObject({ code: 0, body: { robot: 'vtl', problems: [] } });
    expect((inventory.body.added as { mediaId: string }[]).map((a) => a.mediaId)).toEqual(['SSM001', 'SSM003']);
    expect((await emm.listMedia({ robot: 'vtl' })).map((m) => [m.mediaId, m.pool, m.slot])).toEqual([
      ['SSM001', 'scratch', 1],
      ['SSM003', 'scratch', 3],
    ]);
    const [ran] = shim.runs;
    expect(ran).toMatchObject({ documentName: DOCUMENT, exitCode: 0, stderr: '' });
    expect(proxy.asked.at(-1)).toMatchObject({ InstanceId: TAPE_HOST, PluginName: AGENT_COMMAND_STEP });
  }, 60_000);

  it('refuses a robot whose client has no instance with 48, sending nothing; a changer that fails on the host keeps the agent\'s 174', async () => {
    const sentBefore = shim.runs.length;
    const unmapped = await cairn('robot', 'inventory', 'faraway');
    expect(unmapped).toMatchObject({ code: 2, body: { statusCode: 48, message: expect.stringMatching(/^client nohost has no agent instance/) } });
    expect(shim.runs.length).toBe(sentBefore);

    const broken = await cairn('robot', 'inventory', 'broken');
    expect(broken).toMatchObject({ code: 2, body: { statusCode: 174, message: expect.stringMatching(/^the agent on mi-0123456789abcdef1 \(client tapehost\): /) } });
    expect(shim.runs.at(-1)).toMatchObject({ exitCode: 1 });
    expect(await emm.listMedia({ robot: 'broken' })).toEqual([]);
  }, 120_000);
});
