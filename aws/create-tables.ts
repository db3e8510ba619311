import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CairnError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { tableKeySchema, tableNames, type TableName } from './tables.ts';
import { errorName } from './aws-errors.ts';

/** `cairn` → `{ config: 'cairn-config', jobs: 'cairn-jobs', catalog: 'cairn-catalog', media: 'cairn-media' }`. */
export function physicalTableNames(prefix: string): Record<TableName, string> {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(prefix)) {
    throw new ValidationError('invalid table name prefix', [`${JSON.stringify(prefix)}: use 1 to 200 letters, digits, dot, dash or underscore`]);
  }
  return Object.fromEntries(tableNames.map((table) => [table, `${prefix}-${table}`])) as Record<TableName, string>;
}

/**
 * Creates the four Cairn tables (on-demand capacity) for an emulator or a
 * hand-made setup; the CDK stack creates them in a real deployment. A table
 * that exists already is kept as it is, so running this twice is harmless.
 * Resolves when every table is ACTIVE, with the physical names.
 */
export async function createTables(client: DynamoDBClient, prefix: string): Promise<Record<TableName, string>> {
  const names = physicalTableNames(prefix);
  const { partitionKey, sortKey } = tableKeySchema;
  await Promise.all(
    tableNames.map(async (table) => {
      const TableName = names[table];
      try {
        const out = await client.send(
          new CreateTableCommand({
            TableName,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: partitionKey.name, AttributeType: partitionKey.type },
              { AttributeName: sortKey.name, AttributeType: sortKey.type },
            ],
            KeySchema: [
              { AttributeName: partitionKey.name, KeyType: 'HASH' },
              { AttributeName: sortKey.name, KeyType: 'RANGE' },
            ],
          }),
        );
        if (out.TableDescription?.TableStatus === 'ACTIVE') return;
      } catch (error) {
        if (errorName(error) !== 'ResourceInUseException') {
          throw new CairnError(StatusCode.INTERNAL_ERROR, `creating DynamoDB table ${TableName} failed: ${errorName(error)}`, { cause: error });
        }
        const status = (await client.send(new DescribeTableCommand({ TableName }))).Table?.TableStatus;
        if (status === 'ACTIVE') return;
      }
      await waitUntilTableExists({ client, maxWaitTime: 300, minDelay: 1, maxDelay: 5 }, { TableName });
    }),
  );
  return names;
}

/** Deletes the tables `createTables` made under `prefix`; tables already gone are fine. */
export async function deleteTables(client: DynamoDBClient, prefix: string): Promise<void> {
  const names = physicalTableNames(prefix);
  await Promise.all(
    tableNames.map(async (table) => {
      try {
        await client.send(new DeleteTableCommand({ TableName: names[table] }));
      } catch (error) {
        if (errorName(error) !== 'ResourceNotFoundException') {
          throw new CairnError(StatusCode.INTERNAL_ERROR, `deleting DynamoDB table ${names[table]} failed: ${errorName(error)}`, { cause: error });
        }
      }
    }),
  );
}
