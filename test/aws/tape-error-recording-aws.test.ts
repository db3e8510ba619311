import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { createTables, deleteTables } from '#aws/create-tables.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { describeTapeErrorRecording } from '#test/contracts/tape-error-recording-contract.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const clients = 'endpoint' in emulator ? emulatorClients(emulator.endpoint) : undefined;
afterAll(async () => {
  clients?.destroy();
  if ('stop' in emulator) await emulator.stop();
});

describeTapeErrorRecording(
  'DynamoDB',
  async () => {
    const prefix = `cairn-test-${randomUUID().slice(0, 8)}`;
    const names = await createTables(clients!.dynamodb, prefix);
    return { store: dynamoMediaDatabase({ client: clients!.documents, tableName: names.media }), cleanup: () => deleteTables(clients!.dynamodb, prefix) };
  },
  skip,
);
