import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SfnExecutionStatuses, describeExecution, executionArnOf } from '#aws/sfn-execution-status.ts';
import type { AwsClients } from '#aws/clients.ts';
import { CairnError } from '#core/errors.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';

describe('executionArnOf', () => {
  it('names the execution in the state machine’s partition, region and account', () => {
    expect(executionArnOf('arn:aws:states:eu-west-1:123456789012:stateMachine:backup-job', 'cli-c1-1')).toBe('arn:aws:states:eu-west-1:123456789012:execution:backup-job:cli-c1-1');
    expect(executionArnOf('arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m', 'n')).toBe('arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:m:n');
  });

  it('refuses what is not a state machine ARN, saying what it was given', () => {
    for (const bad of ['backup-job', 'arn:aws:states:eu-west-1:123456789012:execution:m:n', 'arn:aws:lambda:eu-west-1:123456789012:function:f']) {
      expect(() => executionArnOf(bad, 'n')).toThrow(CairnError);
      expect(() => executionArnOf(bad, 'n')).toThrow(`not a Step Functions state machine ARN: ${bad}`);
    }
  });
});

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

describe.skipIf(Boolean(skip))(`describeExecution on Step Functions${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let stateMachineArn: string;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const created = await clients.sfn.send(new CreateStateMachineCommand({ name: `status-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }) }));
    stateMachineArn = created.stateMachineArn!;
  });
  afterAll(() => clients?.destroy());

  it('reads a running execution, then the stopped one, by the ARN executionArnOf gives', async () => {
    const name = `e-${Date.now()}`;
    const started = await clients.sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: '{}' }));
    expect(executionArnOf(stateMachineArn, name)).toBe(started.executionArn);

    expect(await describeExecution(clients.sfn, executionArnOf(stateMachineArn, name))).toMatchObject({ status: 'RUNNING' });
    await clients.sfn.send(new StopExecutionCommand({ executionArn: started.executionArn }));
    expect(await describeExecution(clients.sfn, executionArnOf(stateMachineArn, name))).toMatchObject({ status: 'ABORTED' });
    // The port the scheduler's sweep reads, by name under its state machine.
    const statuses = new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn });
    expect(await statuses.describe(name)).toMatchObject({ status: 'ABORTED' });
    expect(await statuses.describe('never-started')).toBeUndefined();
  });

  it('answers undefined for an execution Step Functions does not know', async () => {
    expect(await describeExecution(clients.sfn, executionArnOf(stateMachineArn, 'never-started'))).toBeUndefined();
  });
});
