import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateActivationCommand, DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { CreateStateMachineCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { errorName, httpStatusOf } from '#aws/aws-errors.ts';
import { samplePolicy, sampleStorageUnit } from '../contracts/fixtures.ts';
import { type CliResult, runCairn, cliAwsEnv } from './cli-process.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

const json = (result: CliResult): unknown => JSON.parse(result.stdout);

describe('cairn client in the standalone runtime', () => {
  let home: string;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'cairn-clients-'));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('adds, replaces, lists and removes client mappings', async () => {
    expect((await runCairn(home, ['client', 'add', 'web1', '--instance', 'mi-0123456789abcdef0'])).stdout).toMatch(/client web1 → mi-0123456789abcdef0/);
    await runCairn(home, ['client', 'add', 'db1', '--instance', 'i-0abc1234']);
    await runCairn(home, ['client', 'add', 'web1', '--instance', 'i-0123456789abcdef0']);
    expect(json(await runCairn(home, ['client', 'list', '--json']))).toEqual([
      { name: 'db1', instanceId: 'i-0abc1234' },
      { name: 'web1', instanceId: 'i-0123456789abcdef0' },
    ]);
    expect((await runCairn(home, ['client', 'remove', 'web1'])).code).toBe(0);
    const again = await runCairn(home, ['client', 'remove', 'web1', '--json']);
    expect(again.code).toBe(2);
    expect(json(again)).toMatchObject({ statusCode: 20, message: 'client web1 is not mapped (cairn client list)' });
  });

  it('refuses an instance id that is not an SSM managed instance, changing nothing', async () => {
    const result = await runCairn(home, ['client', 'add', 'bad1', '--instance', 'local', '--json']);
    expect(result.code).toBe(2);
    expect(json(result)).toMatchObject({ statusCode: 20, details: [expect.stringMatching(/^instanceId: an SSM managed instance id/)] });
    expect(json(await runCairn(home, ['client', 'list', '--json']))).not.toContainEqual(expect.objectContaining({ name: 'bad1' }));
  });

  it('says that agent commands need --aws', async () => {
    const result = await runCairn(home, ['agent', 'list', '--json']);
    expect(result.code).toBe(2);
    expect(json(result)).toMatchObject({ statusCode: 20, message: expect.stringContaining('run it with --aws') });
  });
});

/** `cairn --aws client|backup|agent` on the emulator's DynamoDB, Step Functions and SSM. */
describe.skipIf(Boolean(skip))(`cairn --aws clients and agents${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: NodeJS.ProcessEnv;
  let clients: AwsClients;
  let config: DynamoConfigStore;
  let jobs: DynamoJobStore;
  let stateMachineArn: string;
  let home: string;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    home = mkdtempSync(join(tmpdir(), 'cairn-aws-clients-'));
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `clients${Date.now()}`);
    config = new DynamoConfigStore({ client: clients.documents, tableName: tables.config });
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    await config.putStorageUnit(sampleStorageUnit('disk1'));
    // A real state machine on the emulator, so that "no execution started" is something that could have been false.
    ({ stateMachineArn } = (await clients.sfn.send(
      new CreateStateMachineCommand({ name: `refusal-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Pass', End: true } } }) }),
    )) as { stateMachineArn: string });
    env = cliAwsEnv(tables, { CAIRN_STATE_MACHINE_ARN: stateMachineArn, CAIRN_AGENT_ROLE_NAME: 'CairnStack-AgentRole1234' });
  });
  afterAll(async () => {
    clients?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, ['--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, ...args, '--json'], { env });

  it('refuses a manual backup of a client with no agent instance with status 48, before any execution or job exists', async () => {
    const result = await cairn('backup', '--client', 'nohost', '--path', '/etc');

    expect(result.code).toBe(2);
    expect(json(result)).toMatchObject({ statusCode: 48, message: expect.stringContaining('cairn --aws client add nohost --instance mi-') });
    expect((await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions).toEqual([]);
    expect(await jobs.list({})).toEqual([]);
  });

  it('maps clients in the deployment\'s Config table, and refuses a mapping a policy contradicts', async () => {
    await config.putPolicy(samplePolicy('daily', { clients: [{ name: 'web2', priority: 500, agentInstanceId: 'mi-00000000000000002' }] }));
    const refused = await cairn('client', 'add', 'web2', '--instance', 'mi-00000000000000009');
    expect(refused.code).toBe(2);
    expect(json(refused)).toMatchObject({ statusCode: 20, details: ['policy daily gives client web2 agentInstanceId mi-00000000000000002'] });

    expect((await cairn('client', 'add', 'web2', '--instance', 'mi-00000000000000002')).code).toBe(0);
    expect(await config.getClient('web2')).toEqual({ name: 'web2', instanceId: 'mi-00000000000000002' });
    expect(json(await cairn('client', 'list'))).toEqual([{ name: 'web2', instanceId: 'mi-00000000000000002' }]);
  });

  /**
   * moto 5.2.1 implements neither call: it answers HTTP 500 with an HTML error
   * page (its NotImplementedError), which the SDK cannot parse. Each test runs
   * where the emulator does implement the call (LocalStack, a later moto).
   */
  const unsupported = async (call: () => Promise<unknown>): Promise<string | undefined> => {
    try {
      await call();
      return undefined;
    } catch (error) {
      const name = errorName(error) ?? '';
      const notImplemented = /NotImplemented|UnknownOperation|InvalidAction/i.test(name) || (httpStatusOf(error) === 500 && /Deserialization error|not valid JSON/.test(String(error)));
      return notImplemented ? 'the emulator does not implement it (HTTP 500, not an SSM answer)' : undefined;
    }
  };

  it('creates a one-host activation tagged with the client, for the agent role, and prints the host commands', async (ctx) => {
    const why = await unsupported(() => clients.ssm.send(new CreateActivationCommand({ IamRole: 'probe' })));
    if (why) ctx.skip(`CreateActivation: ${why}`);
    const result = await cairn('agent', 'activate', '--client', 'web3', '--expires', '2');
    expect(result.code, result.stderr).toBe(0);
    const report = json(result) as { activationId: string; activationCode: string; hostCommands: string[] };
    expect(report.hostCommands[0]).toBe(`sudo amazon-ssm-agent -register -code '${report.activationCode}' -id '${report.activationId}' -region 'us-east-1'`);
  });

  it('lists managed instances with the clients mapped to each', async (ctx) => {
    const why = await unsupported(() => clients.ssm.send(new DescribeInstanceInformationCommand({})));
    if (why) ctx.skip(`DescribeInstanceInformation: ${why}`);
    const result = await cairn('agent', 'list');
    expect(result.code, result.stderr).toBe(0);
    expect(Array.isArray(json(result))).toBe(true);
  });
});
