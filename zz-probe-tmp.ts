import { randomUUID } from 'node:crypto';
import { PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
const emulator = await startAwsEmulator();
if (!('endpoint' in emulator)) throw new Error('no emu');
const clients = emulatorClients(emulator.endpoint);
const prefix = `r-${randomUUID().slice(0, 8)}`;
const names = await createTables(clients.dynamodb, prefix);
await clients.documents.send(new PutCommand({ TableName: names.media, Item: { pk: 'STU', sk: 'd', inUse: 1 } }));
try {
  await clients.documents.send(new TransactWriteCommand({ TransactItems: [
    { Update: { TableName: names.media, Key: { pk: 'STU', sk: 'd' }, UpdateExpression: 'SET inUse = if_not_exists(inUse, :zero) + :one', ConditionExpression: 'attribute_not_exists(inUse) OR inUse < :max', ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': 1 }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
    { Put: { TableName: names.media, Item: { pk: 'RES', sk: '000000000001' }, ConditionExpression: 'attribute_not_exists(pk)' } },
  ] }));
} catch (e) { console.log((e as any).name, JSON.stringify((e as any).CancellationReasons)); }
await clients.documents.send(new PutCommand({ TableName: names.catalog, Item: { pk: 'c', sk: 'c_1', json: '{}' } }));
try {
  await clients.documents.send(new PutCommand({ TableName: names.catalog, Item: { pk: 'c', sk: 'c_1', json: '{"a":1}' }, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
} catch (e) { console.log((e as any).name, JSON.stringify((e as any).Item)); }
await deleteTables(clients.dynamodb, prefix);
clients.destroy();
await emulator.stop();
