import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAP_FORMAT, mappedStats } from '#agent/offhost/extent-map.ts';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { backupTask, patterned } from '../edge-agent/helpers.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn-agent.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * `cairn-agent mover` to an S3 storage unit, as a real process: the
 * mover's own entry (edge-agent/transport/mover-main.ts) loads the S3
 * adapter, and with it the AWS SDK, only for such a unit; this is that
 * path. The "device" is an image file and the map is written here (as in
 * test/edge-agent/offhost/mover.test.ts), so no root is needed.
 */
describe.skipIf(Boolean(skip))(`cairn-agent mover to an S3 unit${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let bucket: string;
  let clients: ReturnType<typeof emulatorClients>;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-mover-s3-'));
    clients = emulatorClients(emulator.endpoint);
    bucket = `cairn-mover-${Date.now()}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => {
    clients?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('writes the image of the mapped file, its attributes included, into the bucket and ends with its result', async () => {
    const device = join(work, 'device.img');
    writeFileSync(device, patterned(64 * 1024, 9));
    const stats = join(work, 'stats');
    mkdirSync(stats);
    writeFileSync(join(stats, 'f0'), Buffer.alloc(8192));
    const map = join(work, 'map.ndjson');
    const lines = [
      { format: MAP_FORMAT, device, deviceBytes: 64 * 1024, fsType: 'ext4', readRoot: '/mnt/frozen', blockBytes: 4096 },
      { kind: 'entry', path: '/data', relative: 'data', stats: mappedStats(lstatSync(stats, { bigint: true })) },
      { kind: 'entry', path: '/data/f0', relative: 'data/f0', stats: mappedStats(lstatSync(join(stats, 'f0'), { bigint: true })), ranges: [{ fileOffset: 0, deviceOffset: 4096, bytes: 8192 }], xattrs: { 'user.color': Buffer.from('blue').toString('base64') } },
    ];
    writeFileSync(map, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const task = backupTask('/unused', ['/data'], { backupId: 'moverhost_1795400000', storageUnit: { name: 's3unit', kind: 's3', bucket, prefix: 'site1' } });
    const job = join(work, 'job.json');
    writeFileSync(job, JSON.stringify({ task, map }));

    const env = { ...process.env, CAIRN_FROM_SOURCE: '1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const { stdout } = await run(process.execPath, [bin, 'mover', '--job', job, '--region', 'us-east-1', '--endpoint', (emulator as { endpoint: string }).endpoint], { env });

    const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as { result?: { statusCode: number; offhost: { deviceBytesRead: number } } };
    expect(last.result).toMatchObject({ statusCode: 0, offhost: { deviceFiles: 1, deviceBytesRead: 8192 } });
    const keys = ((await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'site1/' }))).Contents ?? []).map((o) => o.Key!);
    const fragment = keys.find((k) => /fragment-.*\.tar$/.test(k));
    expect(fragment).toBeDefined();
    const body = Buffer.from(await (await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: fragment }))).Body!.transformToByteArray());
    expect(body.includes(Buffer.from('SCHILY.xattr.user.color=blue\n'))).toBe(true);
  });
});
