import { describe, expect, it } from 'vitest';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import type { JanitorAction } from '#core/jobs/execution-janitor.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';
import { executionEvent } from '../iam/record-components.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-backup-job';
const RESTORE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-restore-job';

describe('the janitor Lambda', () => {
  function setup() {
    const stores = memoryStores();
    const logged: JanitorAction[] = [];
    const handler = createJanitorHandler({ ...stores, stateMachineArn: STATE_MACHINE, log: (action) => logged.push(action) });
    return { stores, logged, handler };
  }

  it('ends the job of the execution the event names, with the status its end means, and logs what it did', async () => {
    const { stores, logged, handler } = setup();
    await stores.jobs.create(sampleJob(3, { state: 'ACTIVE', executionName: 'nightly.c1.full.1795399200' }));

    const action = await handler(executionEvent(STATE_MACHINE, 'nightly.c1.full.1795399200', 'FAILED', 'States.Timeout', 'Task timed out'));

    expect(action).toMatchObject({ jobId: 3, action: 'ended', statusCode: 41 });
    expect(logged).toEqual([action]);
    expect(await stores.jobs.get(3)).toMatchObject({ state: 'DONE', statusCode: 41, error: 'the execution nightly.c1.full.1795399200 failed (States.Timeout: Task timed out)' });
  });

  it('refuses, as status 20, an event of another state machine, one whose execution is not the state machine’s, and one of another shape', async () => {
    const { stores, handler } = setup();
    await stores.jobs.create(sampleJob(3, { state: 'ACTIVE', executionName: 'n1' }));
    const foreign = executionEvent(STATE_MACHINE.replace('CairnStack-backup-job', 'other'), 'n1', 'ABORTED');
    const mismatched = executionEvent(STATE_MACHINE, 'n1', 'ABORTED');
    mismatched.detail.executionArn = mismatched.detail.executionArn.replace('CairnStack-backup-job', 'other');
    const succeeded = executionEvent(STATE_MACHINE, 'n1', 'SUCCEEDED');

    for (const event of [foreign, mismatched, succeeded, { detail: {} }]) await expect(handler(event)).rejects.toMatchObject({ name: 'Status20' });
    expect((await stores.jobs.get(3))?.state).toBe('ACTIVE');
  });

  it('names, refusing an event of a state machine it does not know, every state machine it was given, backup first', async () => {
    const arn = (name: string) => STATE_MACHINE.replace('CairnStack-backup-job', name);
    const handler = createJanitorHandler({ ...memoryStores(), stateMachineArn: STATE_MACHINE, verifyStateMachineArn: arn('verify'), catalogStateMachineArn: arn('catalog') });
    const foreign = executionEvent(arn('other'), 'n1', 'ABORTED');
    await expect(handler(foreign)).rejects.toThrow(
      `execution ${foreign.detail.executionArn} is not one of the backup-job state machine ${STATE_MACHINE} or the verify-job state machine ${arn('verify')} or the catalog-job state machine ${arn('catalog')}`,
    );
  });

  it('ends the restore job of a restore-job execution, and only a restore job; without that state machine its events are refused', async () => {
    const stores = memoryStores();
    await stores.jobs.create(sampleRestoreJob(4, { state: 'ACTIVE', executionName: 'cli-restore-x' }));
    await stores.jobs.create(sampleJob(5, { state: 'ACTIVE', executionName: 'shared-name' }));
    const handler = createJanitorHandler({ ...stores, stateMachineArn: STATE_MACHINE, restoreStateMachineArn: RESTORE_MACHINE });
    const backupOnly = createJanitorHandler({ ...stores, stateMachineArn: STATE_MACHINE });

    await expect(backupOnly(executionEvent(RESTORE_MACHINE, 'cli-restore-x', 'ABORTED'))).rejects.toMatchObject({ name: 'Status20' });
    expect(await handler(executionEvent(RESTORE_MACHINE, 'cli-restore-x', 'ABORTED'))).toMatchObject({ jobId: 4, action: 'ended', statusCode: 150 });
    expect(await handler(executionEvent(RESTORE_MACHINE, 'shared-name', 'ABORTED'))).toMatchObject({ action: 'no-job' });
    expect(await stores.jobs.get(4)).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect((await stores.jobs.get(5))?.state).toBe('ACTIVE');
  });
});
