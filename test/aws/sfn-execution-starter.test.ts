import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, DescribeExecutionCommand, ListExecutionsCommand, SFNServiceException, type SFNClient } from '@aws-sdk/client-sfn';
import { EARLIER_START_TOLERANCE_MS, SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import type { AwsClients } from '#aws/clients.ts';
import { CairnError } from '#core/errors.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { StatusCode } from '#core/status-codes.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';
import { describeExecutionStarterContract } from '../contracts/execution-starter-contract.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

const REQUEST = { request: { policy: 'nightly', client: 'client1', schedule: 'daily', level: 'full', windowStart: '2026-11-24T20:00:00.000Z' } };

/**
 * Step Functions on moto_server: executions of a Pass machine stay RUNNING
 * there, and moto applies the same name rules as the service (an identical
 * name and input while RUNNING succeeds with the first execution; a different
 * input, or a closed execution, is ExecutionAlreadyExists).
 */
describe.skipIf(Boolean(skip))(`SfnExecutionStarter on Step Functions${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let stateMachineArn: string;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const created = await clients.sfn.send(
      new CreateStateMachineCommand({
        name: `backup-job-${Date.now()}`,
        roleArn: 'arn:aws:iam::123456789012:role/x',
        definition: JSON.stringify({ StartAt: 'Queue', States: { Queue: { Type: 'Pass', End: true } } }),
      }),
    );
    stateMachineArn = created.stateMachineArn!;
  });
  afterAll(() => clients?.destroy());

  const executionsNamed = async (name: string) => (await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions!.filter((e) => e.name === name);

  it('starts an execution with the name and the input as JSON', async () => {
    const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn });

    expect(await starter.start('nightly.client1.daily.1795550400', REQUEST)).toBe('started');

    const [execution] = await executionsNamed('nightly.client1.daily.1795550400');
    const described = await clients.sfn.send(new DescribeExecutionCommand({ executionArn: execution!.executionArn }));
    expect(JSON.parse(described.input!)).toEqual(REQUEST);
  });

  it('reports a second start with the same name and input as already started, and runs one execution', async () => {
    const name = 'nightly.client2.daily.1795550400';
    await new SfnExecutionStarter({ client: clients.sfn, stateMachineArn }).start(name, REQUEST);
    // A tick a minute later: the service answers with the first execution's start date.
    const later = new FakeClock(new Date(Date.now() + 60_000));

    const again = await new SfnExecutionStarter({ client: clients.sfn, stateMachineArn, clock: later }).start(name, REQUEST);

    expect(again).toBe('already-started');
    expect(await executionsNamed(name)).toHaveLength(1);
  });

  it('reports a start with the same name and a different input as already started', async () => {
    const name = 'nightly.client3.daily.1795550400';
    const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn });
    await starter.start(name, REQUEST);

    expect(await starter.start(name, { request: { ...REQUEST.request, level: 'differential-incremental' } })).toBe('already-started');
    expect(await executionsNamed(name)).toHaveLength(1);
  });

  it('starts executions of different names side by side', async () => {
    const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn });

    const outcomes = await Promise.all(['a.c1.s.1', 'a.c2.s.1', 'a.c3.s.1'].map((name) => starter.start(name, REQUEST)));

    expect(outcomes).toEqual(['started', 'started', 'started']);
  });

  it('fails with the cause kept when the state machine does not exist', async () => {
    const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: `${stateMachineArn}-gone` });

    const error = await starter.start('x.c.s.1', REQUEST).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).message).toMatch(/StartExecution x\.c\.s\.1 .* failed: StateMachineDoesNotExist/);
    expect((error as CairnError).cause).toMatchObject({ name: 'StateMachineDoesNotExist' });
  });
});

/** An SFN client that answers StartExecution with `answer`, or fails with it. */
function fakeSfn(answer: { startDate: Date } | SFNServiceException): SFNClient {
  return {
    send: async () => {
      if (answer instanceof SFNServiceException) throw answer;
      return { executionArn: 'arn:aws:states:us-east-1:123456789012:execution:m:n', ...answer };
    },
  } as unknown as SFNClient;
}
const sfnError = (name: string) => new SFNServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} from the service` });

describe('SfnExecutionStarter outcomes', () => {
  const at = new Date('2026-11-24T22:30:00Z');
  const starter = (answer: Parameters<typeof fakeSfn>[0]) =>
    new SfnExecutionStarter({ client: fakeSfn(answer), stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m', clock: new FakeClock(at) });

  it('counts a start date within the clock-skew tolerance as this call starting it', async () => {
    expect(await starter({ startDate: new Date(at.getTime() - EARLIER_START_TOLERANCE_MS + 1) }).start('n', {})).toBe('started');
    expect(await starter({ startDate: new Date(at.getTime() + 800) }).start('n', {})).toBe('started');
  });

  it('counts an older start date as an earlier execution answered again', async () => {
    expect(await starter({ startDate: new Date(at.getTime() - EARLIER_START_TOLERANCE_MS - 1) }).start('n', {})).toBe('already-started');
  });

  it('counts ExecutionAlreadyExists as already started', async () => {
    expect(await starter(sfnError('ExecutionAlreadyExists')).start('n', {})).toBe('already-started');
  });

  it('turns an invalid name into status 20 and any other error into status 2000, keeping the cause', async () => {
    await expect(starter(sfnError('InvalidName')).start('bad name', {})).rejects.toMatchObject({ statusCode: StatusCode.INVALID_COMMAND_USAGE });
    const throttled = sfnError('ThrottlingException');
    const error = await starter(throttled).start('n', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: StatusCode.INTERNAL_ERROR, cause: throttled });
  });
});

/**
 * The port's contract on moto_server: a fresh Pass state machine per case
 * (its executions stay RUNNING there, so the closed-execution case is left to
 * the outcome tests above). The later starter's clock is a minute ahead, as a
 * next tick's would be: for a RUNNING execution with identical input, Step
 * Functions answers with the first start date, and only the age of that date
 * tells a repeated start from this one.
 */
describeExecutionStarterContract(
  'Step Functions (moto_server)',
  async () => {
    if ('skip' in emulator) throw new Error(emulator.skip);
    const clients = emulatorClients(emulator.endpoint);
    const { stateMachineArn } = await clients.sfn.send(
      new CreateStateMachineCommand({ name: `contract-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Queue', States: { Queue: { Type: 'Pass', End: true } } }) }),
    );
    return {
      starter: new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: stateMachineArn! }),
      laterStarter: new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: stateMachineArn!, clock: new FakeClock(new Date(Date.now() + 60_000)) }),
      executions: async (name) => {
        const listed = (await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? [];
        const named = listed.filter((e) => e.name === name);
        return Promise.all(named.map(async (e) => JSON.parse((await clients.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }))).input!) as unknown));
      },
      cleanup: async () => clients.destroy(),
    };
  },
  skip,
);
