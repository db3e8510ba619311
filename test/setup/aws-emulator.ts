import { MOTO_SERVER_ENV, findOnPath } from './aws-emulator-path.ts';
import { MOTO_BROKER_ENV } from './moto-per-worker.ts';
import { spawnMotoServer } from './moto-server.ts';
import { AWS_ENDPOINT_ENV, createAwsClients, type AwsClientOptions, type AwsClients } from '#aws/clients.ts';

export type AwsEmulator = { endpoint: string; stop(): Promise<void> } | { skip: string };

const MISSING = `moto_server not on PATH and ${AWS_ENDPOINT_ENV} not set`;

/**
 * An AWS endpoint for adapter tests, meant for top-level await in a test file
 * so `describe.skipIf` can use the reason:
 *
 *   const emulator = await startAwsEmulator();
 *   const skip = 'skip' in emulator ? emulator.skip : undefined;
 *   afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));
 *
 * CAIRN_AWS_ENDPOINT (LocalStack, or a moto_server you run) wins. Under
 * vitest, the file gets its worker's moto_server, emptied for it
 * (setup/moto-per-worker.ts; `stop()` leaves it to the next file of the
 * worker). Otherwise (a script, or vitest without that global setup) a
 * moto_server from PATH is started on a free loopback port and stopped by
 * `stop()` (or when the process exits).
 */
export async function startAwsEmulator(): Promise<AwsEmulator> {
  const configured = process.env[AWS_ENDPOINT_ENV];
  if (configured) return { endpoint: configured, stop: async () => {} };
  const broker = process.env[MOTO_BROKER_ENV];
  const slot = process.env.VITEST_POOL_ID;
  if (broker && slot) return workerEmulator(broker, slot);
  // Resolved once per run by the global setup (a pyenv shim costs ~0.5 s of CPU a start); PATH when run without it.
  const moto = process.env[MOTO_SERVER_ENV] || findOnPath('moto_server');
  if (moto === undefined) return { skip: MISSING };
  return spawnMotoServer(moto);
}

/** The worker slot's moto_server, reset by the global setup's service before it answers. */
async function workerEmulator(broker: string, slot: string): Promise<AwsEmulator> {
  const response = await fetch(`${broker}/slot/${slot}`, { signal: AbortSignal.timeout(60_000) });
  const body = (await response.json()) as { endpoint?: string; missing?: boolean; error?: string };
  if (body.missing) return { skip: MISSING };
  if (body.endpoint === undefined) throw new Error(`moto_server for vitest worker ${slot}: ${body.error ?? `HTTP ${response.status}`}`);
  return { endpoint: body.endpoint, stop: async () => {} };
}

/**
 * Client options for an emulator: fake credentials and us-east-1, never the
 * machine's real ones. One connection per client: moto_server checks a
 * condition and writes without a lock, on one thread per connection, so two
 * racing transactions could both pass their `inUse < max` check; sent one at
 * a time they are serialised the way DynamoDB serialises writes to an item.
 * Callers still interleave their requests, so races between a read and a
 * conditional write remain tested.
 */
export function emulatorClientOptions(endpoint: string): AwsClientOptions {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxSockets: 1 };
}

/** SDK clients bound to the emulator, ignoring AWS_* variables of the environment. */
export function emulatorClients(endpoint: string): AwsClients {
  return createAwsClients(emulatorClientOptions(endpoint), {});
}
