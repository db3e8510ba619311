import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { restartJob } from '#cli/job-restart.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { StatusCode } from '#core/status-codes.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { sampleJob } from '../contracts/fixtures.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/**
 * A restart is claimed by a compare-and-swap on the ended job
 * (cli/job-restart.ts): on the stack's Jobs table (DynamoDB on the emulator,
 * the conditional PutItem of `DynamoJobStore.update`), ten restarts of one
 * job at once (the page's Restart double-clicked, `cairn --aws jobs restart`
 * beside it) queue one backup; the others are refused with status 20.
 * The queue here records what it is asked and queues a job in the table; the
 * claim is what is tested.
 */
describe.skipIf(Boolean(skip))(`restarts at once on DynamoDB${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let jobs: DynamoJobStore;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    const clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `restart${Date.now()}`);
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    await jobs.create(sampleJob(1, { state: 'DONE', statusCode: 13 }));
  });

  it('queue one new job, the rest refused naming the claim or the new job', async () => {
    const asked: Record<string, unknown>[] = [];
    const backend = {
      jobs,
      clock: systemClock,
      runBackup: async (request: Record<string, unknown>, hooks: { onQueued?: (job: { jobId: number; client: string; policy: string; schedule: string }) => void }) => {
        asked.push(request);
        // Ids from 100: job 1 was written without the table's counter.
        const jobId = 99 + asked.length;
        await jobs.create(sampleJob(jobId, { state: 'QUEUED' }));
        hooks.onQueued?.({ jobId, client: 'client1', policy: 'daily-home', schedule: 'full' });
        return { jobId, statusCode: 0 };
      },
    };
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => restartJob(backend, 1, 'tester@host1, cairn monitor')));
    const ran = outcomes.filter((o) => o.status === 'fulfilled');
    expect(ran).toHaveLength(1);
    expect(asked).toHaveLength(1);
    const newId = (ran[0] as PromiseFulfilledResult<{ jobId?: number }>).value.jobId!;
    for (const refused of outcomes.filter((o) => o.status === 'rejected')) {
      expect((refused as PromiseRejectedResult).reason).toMatchObject({ statusCode: StatusCode.INVALID_COMMAND_USAGE, message: expect.stringMatching(/^job 1 (is being restarted|was restarted already, as job \d+: restart that one)$/) });
    }
    await expect.poll(async () => { const job = await jobs.get(1); return job?.type === 'backup' ? job.restartedAs : undefined; }, { timeout: 5000 }).toBe(newId);
    await expect(restartJob(backend, 1, 'tester@host1')).rejects.toMatchObject({ message: `job 1 was restarted already, as job ${newId}: restart that one` });
    expect(asked).toHaveLength(1);
  }, 30_000);
});
