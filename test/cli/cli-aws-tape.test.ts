import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { cliAwsEnv } from './cli-process.ts';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import type { Drive, Media } from '#core/model/tape-media.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : diskChangerSkipReason();

/** The tape commands with --aws: the media manager on the deployment's Media table (here on the emulator), the changer on this host. */
describe.skipIf(Boolean(skip))(`cairn --aws robot, pool, media and drive${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: NodeJS.ProcessEnv;
  let clients: AwsClients;
  let library: DiskChangerLibrary;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `clitape${Date.now()}`);
    await new DynamoConfigStore({ client: clients.documents, tableName: tables.config }).putClient({ name: 'tapehost', instanceId: 'mi-0123456789abcdef0' });
    library = diskChangerLibrary({ slots: 4, drives: 1, barcodes: { 1: 'AWS001', 2: 'AWS002', 3: 'AWS003' } });
    env = cliAwsEnv(tables);
  });
  afterAll(async () => {
    clients?.destroy();
    await library?.cleanup();
    if (!('skip' in emulator)) await emulator.stop();
  });
  const cairn = async (...args: string[]): Promise<{ code: number; body: Record<string, unknown> & unknown[] }> => {
    const argv = [bin, '--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, ...args, '--json'];
    return run(process.execPath, argv, { env }).then(
      (done) => ({ code: 0, body: JSON.parse(done.stdout) as never }),
      (failed: { code: number; stdout: string }) => ({ code: failed.code, body: JSON.parse(failed.stdout) as never }),
    );
  };

  it('records a robot for a mapped client, takes its inventory on this host, and administers pools, volumes and drives in the Media table', async () => {
    const robotArgs = ['robot', 'add', 'vtl', '--changer-script', DISK_CHANGER, '--changer-device', library.changerDevice, '--drive', library.drives[0]!];
    const [unmapped, added, pool] = await Promise.all([cairn(...robotArgs, '--client', 'nohost'), cairn(...robotArgs, '--client', 'tapehost'), cairn('pool', 'add', 'offsite')]);
    expect(unmapped).toMatchObject({ code: 2, body: { statusCode: 48, message: expect.stringMatching(/^client nohost has no agent instance/) } });
    expect(added).toMatchObject({ code: 0, body: { name: 'vtl', client: 'tapehost', drives: [{ name: 'vtl-d0', index: 0 }] } });
    expect(pool.code).toBe(0);

    // On the library's host (without --on-this-host it goes to the robot's agent through SSM: cli-aws-robot-inventory.test.ts).
    const inventory = await cairn('robot', 'inventory', 'vtl', '--on-this-host');
    expect((inventory.body.added as { mediaId: string }[]).map((a) => a.mediaId)).toEqual(['AWS001', 'AWS002', 'AWS003']);

    const [labelled, frozen, down] = await Promise.all([cairn('media', 'label', 'AWS001', '--pool', 'offsite'), cairn('media', 'freeze', 'AWS002'), cairn('drive', 'down', 'vtl-d0', '--reason', 'cleaning')]);
    expect(labelled.body).toMatchObject({ mediaId: 'AWS001', pool: 'offsite' });
    expect(frozen.body).toMatchObject({ mediaId: 'AWS002', state: 'FROZEN' });
    expect(down.body).toMatchObject({ state: 'DOWN', downReason: 'cleaning' });

    const [media, pools, deleted, drives] = await Promise.all([cairn('media', 'list', '--robot', 'vtl'), cairn('pool', 'list'), cairn('pool', 'delete', 'offsite'), cairn('drive', 'list')]);
    expect((media.body as Media[]).map((m) => [m.mediaId, m.pool, m.state, m.slot])).toEqual([
      ['AWS001', 'offsite', 'UNASSIGNED', 1],
      ['AWS002', 'scratch', 'FROZEN', 2],
      ['AWS003', 'scratch', 'UNASSIGNED', 3],
    ]);
    expect(pools.body).toMatchObject([{ name: 'offsite', volumes: 1 }, { name: 'scratch', volumes: 2 }]);
    expect(deleted).toMatchObject({ code: 2, body: { statusCode: 20, message: 'pool offsite holds 1 volume (AWS001): move or expire them first' } });
    expect((drives.body as Drive[]).map((d) => [d.name, d.state])).toEqual([['vtl-d0', 'DOWN']]);
  });
});
