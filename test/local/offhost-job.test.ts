import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { asKind } from '#core/model/job.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { runCairn } from '../cli/cli-process.ts';

/*
 * A standalone backup job of a policy with `backupMethod: offhost`, for
 * real: an ext4 file system (inline_data, so small files fall back to a
 * file read) on a loop device, filled, synced and remounted read-only; the
 * job maps it and the data mover process (`cairn-agent mover`) reads the
 * device. The same policy over the file system mounted read-write is
 * refused with 156 before anything is written.
 */

const WORK = `/tmp/i11-offhost-job/job-${process.pid}`;

function missingTool(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mkfs.ext4', 'filefrag', 'findmnt', 'blockdev', 'mount', 'umount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control)';
  return undefined;
}
const skipReason = missingTool();

/** Every entry under `root` (files by sha256 and mode, directories, links by target), relative to it. */
function treeOf(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    if (rel === '' && name === 'lost+found') continue;
    const path = rel ? `${rel}/${name}` : name;
    const stats = lstatSync(join(root, path));
    if (stats.isDirectory()) Object.assign(out, { [path]: 'directory' }, treeOf(root, path));
    else if (stats.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(root, path))}`;
    else out[path] = `${(stats.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}`;
  }
  return out;
}

function patterned(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
}

describe.skipIf(Boolean(skipReason))(`a backup job of an offhost policy${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const image = join(WORK, 'ext4.img');
  const mountPoint = join(WORK, 'mnt');
  const data = join(mountPoint, 'data');
  let device = '';
  let mounted = false;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    mkdirSync(mountPoint, { recursive: true });
    execFileSync('truncate', ['-s', '48M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'inline_data', image]);
    device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    execFileSync('mount', [device, mountPoint]);
    mounted = true;
    mkdirSync(join(data, 'small'), { recursive: true });
    for (let i = 0; i < 10; i++) writeFileSync(join(data, 'small', `tiny-${i}.txt`), `tiny file ${i}\n`);
    mkdirSync(join(data, 'plain'));
    for (let i = 0; i < 40; i++) writeFileSync(join(data, 'plain', `f${i}.bin`), patterned(1000 + ((i * 7919) % (80 * 1024)), i), { mode: 0o640 });
    writeFileSync(join(data, 'plain', 'big.bin'), patterned(3 * 1024 * 1024 + 17, 3));
    symlinkSync('plain/big.bin', join(data, 'link'));
    // The standalone runtime lives off the loop file system (its home is not part of the backup).
    runtime = await openLocalRuntime({ home: join(WORK, 'home') });
    await runtime.config.putPolicy(samplePolicy('offhost', { storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 1 }], selections: [data], backupMethod: 'offhost' }));
  });

  afterAll(() => {
    runtime?.close();
    if (mounted) spawnSync('umount', [mountPoint]);
    if (device) spawnSync('losetup', ['-d', device]);
    rmSync(WORK, { recursive: true, force: true });
  });

  it('refuses the file system mounted read-write with 156, saying why, and writes nothing', async () => {
    const run = await runBackupJob(runtime, { client: 'host1', policy: 'offhost' });

    expect(run.statusCode).toBe(156);
    expect(run.error).toMatch(/mounted read-write; the extent map must be taken from a frozen image/);
    expect(await runtime.catalog.listImages({ client: 'host1' })).toEqual([]);
    const unitDir = (await runtime.config.getStorageUnit('local-disk')) as { path: string };
    expect(existsSync(join(unitDir.path, 'images', 'host1')) ? readdirSync(join(unitDir.path, 'images', 'host1')) : []).toEqual([]);
  });

  it('backs up the file system remounted read-only through the mover: 0, restores byte for byte, details count the fallbacks', async () => {
    execFileSync('sync');
    execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
    const source = treeOf(data);

    const run = await runBackupJob(runtime, { client: 'host1', policy: 'offhost' });

    expect(run.error).toBeUndefined();
    // 0: every fallback (the inline files) was read from the read-only mount; 1 would mean one could not be read.
    expect(run.statusCode).toBe(0);
    const job = asKind(await runtime.jobs.get(run.jobId!), 'backup')!;
    expect(job.backupMethod).toBe('offhost');
    const line = job.details!.map((d) => d.message).find((m) => m.startsWith('offhost: '));
    expect(line).toMatch(/^offhost: (\d+) files read from the device \(\d+ bytes in \d+ reads\), (\d+) fell back to a file read \(inline (\d+)/);
    const [, deviceFiles, fallbackFiles, inline] = /^offhost: (\d+) files .*, (\d+) fell back .*\(inline (\d+)/.exec(line!)!;
    expect(Number(fallbackFiles)).toBe(10);
    expect(Number(inline)).toBe(10);
    expect(Number(deviceFiles)).toBe(41);
    const imageRecord = await runtime.catalog.getImage(run.backupId!);
    const target = join(WORK, 'restore');
    const restored = await restoreImage({ store: await openStorageUnit((await runtime.config.getStorageUnit('local-disk'))!), image: imageRecord!, targetDir: target });
    expect(restored.refused).toEqual([]);
    expect(treeOf(join(target, data))).toEqual(source);
  });

  it('runs the same through `cairn backup` and `cairn restore` (the mover found beside bin/cairn.js)', async () => {
    const source = treeOf(data);
    const home = join(WORK, 'home');

    const backup = await runCairn(home, ['backup', '--client', 'host1', '--policy', 'offhost', '--json']);

    expect(backup.code, backup.stderr).toBe(0);
    const result = JSON.parse(backup.stdout) as { jobId: number; statusCode: number; backupId: string };
    expect(result.statusCode).toBe(0);
    const shown = JSON.parse((await runCairn(home, ['jobs', 'show', String(result.jobId), '--json'])).stdout) as { details?: Array<{ message: string }> };
    expect(shown.details?.map((d) => d.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^offhost: 41 files read from the device .*, 10 fell back to a file read \(inline 10\)$/)]));
    const target = join(WORK, 'restore-cli');
    const restore = await runCairn(home, ['restore', '--backup-id', result.backupId, '--to', target, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(treeOf(join(target, data))).toEqual(source);
  });
});
