import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MOTO_SERVER_ENV, findOnPath } from './aws-emulator-path.ts';
import { AWS_ENDPOINT_ENV, createAwsClients, type AwsClientOptions, type AwsClients } from '#aws/clients.ts';

export type AwsEmulator = { endpoint: string; stop(): Promise<void> } | { skip: string };

const STARTUP_TIMEOUT_MS = 30_000;

/**
 * An AWS endpoint for adapter tests, meant for top-level await in a test file
 * so `describe.skipIf` can use the reason:
 *
 *   const emulator = await startAwsEmulator();
 *   const skip = 'skip' in emulator ? emulator.skip : undefined;
 *   afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));
 *
 * CAIRN_AWS_ENDPOINT (LocalStack, or a moto_server you run) wins; otherwise
 * a moto_server from PATH is started on a free loopback port and stopped by
 * `stop()` (or when the test process exits).
 */
export async function startAwsEmulator(): Promise<AwsEmulator> {
  const configured = process.env[AWS_ENDPOINT_ENV];
  if (configured) return { endpoint: configured, stop: async () => {} };
  // Resolved once per run by the global setup (a pyenv shim costs ~0.5 s of CPU a start); PATH when run without it.
  const moto = process.env[MOTO_SERVER_ENV] || findOnPath('moto_server');
  if (moto === undefined) return { skip: `moto_server not on PATH and ${AWS_ENDPOINT_ENV} not set` };

  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(moto, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    await terminate(child);
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.off('exit', killOnExit);
      throw new Error(`moto_server exited during startup (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
    }
    if (await answers(endpoint)) return { endpoint, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${STARTUP_TIMEOUT_MS / 1000} s: ${stderr.trim()}`);
    }
    await sleep(100);
  }
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
