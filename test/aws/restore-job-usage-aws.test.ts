import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { sampleRestoreJob } from '#test/contracts/fixtures.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { cliAwsEnv } from '#test/cli/cli-process.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

// Its own file: moto 5.2.1 starts one Step Functions execution per server, and job-usage-aws.test.ts has its server's.
describe.skipIf(Boolean(skip))(`a restore job's cost in cairn --aws jobs show${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let setup: AwsClients;
  let tables: Awaited<ReturnType<typeof createTables>>;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    setup = createAwsClients(emulatorClientOptions(emulator.endpoint), {});
    tables = await createTables(setup.dynamodb, `rusage${Date.now()}`);
  });
  afterAll(async () => {
    setup?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });

  it("counts its state transitions on the restore-job state machine's execution, not the backup job's", async () => {
    // Prepare: the restore's execution on the restore-job state machine; the backup-job state machine has none of that name.
    if ('skip' in emulator) return;
    const restoreMachine = await setup.sfn.send(
      new CreateStateMachineCommand({ name: `restore-job-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Only', States: { Only: { Type: 'Pass', End: true } } }) }),
    );
    await setup.sfn.send(new StartExecutionCommand({ stateMachineArn: restoreMachine.stateMachineArn, name: 'cli-restore-host1_1700000000-1795399200000', input: '{}' }));
    const jobs = new DynamoJobStore({ client: setup.documents, tableName: tables.jobs });
    await jobs.create(sampleRestoreJob(43, { state: 'DONE', statusCode: 0, executionName: 'cli-restore-host1_1700000000-1795399200000' }));
    // The backup-job state machine's ARN (cliAwsEnv's) has no execution of that name: only the restore-job one has.
    const env = cliAwsEnv(tables, { CAIRN_RESTORE_STATE_MACHINE_ARN: restoreMachine.stateMachineArn! });

    // Act
    const { stdout } = await run(process.execPath, [bin, '--aws', '--endpoint', emulator.endpoint, 'jobs', 'show', '43', '--json'], { env });

    // Assess: moto answers GetExecutionHistory with one Pass state (4 events), found under the restore-job state machine.
    expect((JSON.parse(stdout) as { usage: { stateTransitions: unknown } }).usage.stateTransitions).toEqual({ count: 1, events: 4 });
  }, 60_000);
});
