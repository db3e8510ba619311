import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { cancelJob } from '#core/jobs/job-service.ts';
import { runAsJob } from '#core/jobs/lifecycle-job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * The watch that stops a cancelled lifecycle job (core/jobs/lifecycle-job.ts)
 * on the cloud runtime's Jobs table (moto): what `cairn --aws duplicate` and
 * `cairn --aws catalog backup` run in the operator's process. A cancel
 * written to the table by another process (`cairn --aws jobs cancel`, here
 * cancelJob on its own store client) makes the job's next stamp a refused
 * conditional write, which aborts the work.
 */
describe.skipIf(Boolean(skip))(`a lifecycle job cancelled on DynamoDB${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let tables: { config: string; jobs: string; catalog: string; media: string };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    tables = await createTables(clients.dynamodb, `lccancel${Date.now()}`);
  });
  afterAll(async () => {
    clients?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('aborts the running work within a few stamps of the cancel, and the job keeps 150 with its reason', async () => {
    const client = clients.documents;
    const jobs = new DynamoJobStore({ client, tableName: tables.jobs });
    const admin = {
      jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
      config: new DynamoConfigStore({ client, tableName: tables.config }),
      media: new DynamoMediaStore({ client, tableName: tables.media }),
      catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
    };
    let cancelledAt = 0;
    const run = runAsJob({ jobs, now: () => new Date(), owner: 'cli:host1:42', timer: systemTimer, watchEveryMs: 100 }, 'catalog-backup', { client: 'cairn-catalog', storageUnit: 's3-unit' }, async (job) => {
      await admin.jobs.get(job.jobId);
      await cancelJob(admin, job.jobId, new Date(), 'operator@laptop, cairn jobs cancel');
      cancelledAt = Date.now();
      // The operation's safe points, a few a second, until it is told to stop (or gives up after 20 s: then the test fails).
      for (let i = 0; i < 200 && !job.signal.aborted; i++) await new Promise((r) => setTimeout(r, 100));
      job.signal.throwIfAborted();
      return 'finished';
    }, () => ({ statusCode: 0 }));

    await expect(run).rejects.toMatchObject({ statusCode: StatusCode.TERMINATED_BY_ADMINISTRATOR, message: expect.stringMatching(/cancelled by an administrator \(operator@laptop, cairn jobs cancel\)/) });
    expect(Date.now() - cancelledAt).toBeLessThan(5000);
    const job = (await jobs.list({ limit: 10 })).find((j) => j.type === 'catalog-backup')!;
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150, error: 'cancelled by an administrator (operator@laptop, cairn jobs cancel)' });
  }, 60_000);
});
