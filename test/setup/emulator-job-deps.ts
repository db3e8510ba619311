import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import type { JobEngineDeps } from '#local/job-engine.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { emulatorClients } from './aws-emulator.ts';

/** What a cloud job test runs on: the emulator's clients, its fresh tables, and the job engine's stores on them. */
export interface EmulatorJobDeps {
  clients: AwsClients;
  tables: Awaited<ReturnType<typeof createTables>>;
  deps: JobEngineDeps;
}

/**
 * The cloud wiring shared by the job tests in test/aws (backup, verify,
 * rehearsal, duplicate, multiple data streams): fresh tables under
 * `tablePrefix` plus the current time, the S3 bucket `bucket`, the job
 * engine's four stores on DynamoDB (system clock, owner `test`), and the
 * agent's environment pointed at the emulator, since the agent opens S3
 * storage units with clients from the environment, as on a real host. The
 * caller saves process.env before and restores it after.
 */
export async function emulatorJobDeps(endpoint: string, tablePrefix: string, bucket: string): Promise<EmulatorJobDeps> {
  const clients = emulatorClients(endpoint);
  const tables = await createTables(clients.dynamodb, `${tablePrefix}${Date.now()}`);
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  Object.assign(process.env, { CAIRN_AWS_ENDPOINT: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const client = clients.documents;
  const deps: JobEngineDeps = {
    config: new DynamoConfigStore({ client, tableName: tables.config }),
    jobs: new DynamoJobStore({ client, tableName: tables.jobs }),
    catalog: new DynamoCatalogStore({ client, tableName: tables.catalog }),
    media: new DynamoMediaStore({ client, tableName: tables.media }),
    clock: systemClock,
    owner: 'test',
  };
  return { clients, tables, deps };
}
