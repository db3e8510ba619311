import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MOTO_SERVER_ENV, findOnPath } from './aws-emulator-path.ts';
import { resetMotoServer, spawnMotoServer, type MotoServer } from './moto-server.ts';

/** Where a test file asks for its worker's moto_server: set by the global setup below, read by `startAwsEmulator`. */
export const MOTO_BROKER_ENV = 'CAIRN_TEST_MOTO_BROKER';

/**
 * Vitest global setup (vitest.config.ts): one moto_server per vitest worker
 * slot instead of one per test file. Starting moto_server costs ~1.5 s of CPU
 * (Python imports moto's backends), paid by each of the ~35 files that use
 * an emulator; its requests cost little. The main process keeps a small
 * loopback HTTP service; a test file's `startAwsEmulator` asks it for the
 * server of its slot (`VITEST_POOL_ID`, 1..maxWorkers). Vitest runs at most
 * one file per slot at a time, so a slot's server serves one file at a time:
 * on each request the service resets the server (`/moto-api/reset`, every
 * backend emptied, S3 objects disposed), and the file starts on an empty
 * emulator exactly as it did on its own fresh one. A server that died or
 * stopped answering (a file that wedged it) is replaced. The servers are
 * children of the main process, stopped at teardown or when it exits.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const servers = new Map<string, Promise<MotoServer>>();

  async function serverFor(slot: string, moto: string): Promise<MotoServer> {
    const running = servers.get(slot);
    if (running !== undefined) {
      const server = await running.catch(() => undefined);
      if (server !== undefined && (await resetMotoServer(server.endpoint))) return server;
      await server?.stop();
    }
    const started = spawnMotoServer(moto);
    servers.set(slot, started);
    started.catch(() => servers.delete(slot));
    return started;
  }

  const broker: Server = createServer((request, response) => {
    const slot = /^\/slot\/(\d+)$/.exec(request.url ?? '')?.[1];
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (slot === undefined) return reply(404, { error: `unknown path ${request.url}` });
    const moto = process.env[MOTO_SERVER_ENV] || findOnPath('moto_server');
    if (moto === undefined) return reply(200, { missing: true });
    serverFor(slot, moto).then(
      (server) => reply(200, { endpoint: server.endpoint }),
      (error: unknown) => reply(500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
  await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve));
  process.env[MOTO_BROKER_ENV] = `http://127.0.0.1:${(broker.address() as AddressInfo).port}`;

  return async () => {
    delete process.env[MOTO_BROKER_ENV];
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await Promise.all([...servers.values()].map(async (started) => (await started.catch(() => undefined))?.stop()));
    servers.clear();
  };
}
