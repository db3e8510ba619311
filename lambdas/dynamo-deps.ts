import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import type { LambdaEnvironment } from './environment.ts';
import { systemClock } from './system-clock.ts';

/**
 * The stores every Cairn Lambda is wired to, built once per cold start.
 * `clients` defaults to the process's own; test/iam passes recording ones.
 */
export function dynamoDeps(env: LambdaEnvironment, clients: AwsClients = createAwsClients({ region: env.AWS_REGION })) {
  const client = clients.documents;
  return {
    config: new DynamoConfigStore({ client, tableName: env.CONFIG_TABLE }),
    jobs: new DynamoJobStore({ client, tableName: env.JOBS_TABLE }),
    catalog: new DynamoCatalogStore({ client, tableName: env.CATALOG_TABLE }),
    media: new DynamoMediaStore({ client, tableName: env.MEDIA_TABLE }),
    clock: systemClock,
  };
}
