import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { runCairn, type CliResult } from './cli-process.ts';


/** The `cairn` command as an operator runs it: a real process, real state under --home. */
describe('the cairn CLI', () => {
  let work: string;
  let home: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
    home = join(work, 'home');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('backs up, lists the job and the image, and restores it, all as JSON', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 100_000 });
    const backup = await cairn('backup', '--client', 'cli-host', '--path', source, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const result = JSON.parse(backup.stdout) as { jobId: number; statusCode: number; backupId: string };
    expect(result.statusCode).toBe(0);
    expect(result.backupId).toMatch(/^cli-host_\d{10}$/);

    const jobs = JSON.parse((await cairn('jobs', '--json')).stdout) as { jobId: number; state: string; statusCode: number }[];
    expect(jobs[0]).toMatchObject({ jobId: result.jobId, state: 'DONE', statusCode: 0 });
    const shown = JSON.parse((await cairn('jobs', 'show', String(result.jobId), '--json')).stdout) as { backupId: string };
    expect(shown.backupId).toBe(result.backupId);
    const images = JSON.parse((await cairn('images', '--client', 'cli-host', '--json')).stdout) as { backupId: string }[];
    expect(images.map((i) => i.backupId)).toEqual([result.backupId]);

    const target = join(work, 'restore');
    const restore = await cairn('restore', '--backup-id', result.backupId, '--to', target, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
  });

  it('cancels a queued job with status 150 and restarts an ended one as a new job', async () => {
    const { openLocalRuntime } = await import('#local/runtime.ts');
    const { hostname } = await import('node:os');
    const rt = await openLocalRuntime({ home });
    const { sampleJob } = await import('../contracts/fixtures.ts');
    const id = await rt.jobs.nextJobId();
    // Owned by this (living) test process, so the CLI does not take it for an orphan.
    await rt.jobs.create(sampleJob(id, { storageUnit: 'local-disk', owner: `local:${hostname()}:${process.pid}` }));
    rt.close();
    const cancel = await cairn('jobs', 'cancel', String(id), '--json');
    expect(JSON.parse(cancel.stdout)).toMatchObject({ jobId: id, statusCode: 150 });
    const again = await cairn('jobs', 'cancel', String(id), '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ statusCode: 20, message: expect.stringMatching(/already ended with status 150/) });

    const first = (JSON.parse((await cairn('jobs', '--state', 'DONE', '--json')).stdout) as { jobId: number; statusCode: number }[]).find((j) => j.statusCode === 0)!;
    const restart = await cairn('jobs', 'restart', String(first.jobId), '--json');
    expect(restart.code, restart.stderr).toBe(0);
    expect(JSON.parse(restart.stdout)).toMatchObject({ restartedFrom: first.jobId, statusCode: 0 });
  });

  it('prints a table for people', async () => {
    const jobs = await cairn('jobs');
    expect(jobs.stdout).toMatch(/^JOBID\s+STATE\s+STATUS/);
  });

  it('shows a restore job for what it is, and restarts only backup jobs', async () => {
    const { openLocalRuntime } = await import('#local/runtime.ts');
    const { sampleRestoreJob } = await import('../contracts/fixtures.ts');
    const rt = await openLocalRuntime({ home });
    const id = await rt.jobs.nextJobId();
    await rt.jobs.create(sampleRestoreJob(id, { state: 'DONE', statusCode: 0, endedAt: '2026-11-01T03:10:00.000Z' }));
    rt.close();
    expect((await cairn('jobs')).stdout).toMatch(new RegExp(`^${id} +DONE +0 +1 +- +restore +client1 `, 'm'));
    const show = (await cairn('jobs', 'show', String(id))).stdout;
    expect(show).toMatch(/^from +the tree at 2026-11-01T02:00:00\.000Z \(policy daily-home\)$/m);
    expect(show).toMatch(/^to +client2:\/restore \(existing entries: rename\)$/m);
    const restart = await cairn('jobs', 'restart', String(id), '--json');
    expect(restart.code).toBe(2);
    expect(JSON.parse(restart.stdout)).toMatchObject({ statusCode: 20, message: `job ${id} is a restore job; only a backup job can be restarted` });
  });

  it('answers an unknown image with status 227 and says which', async () => {
    const restore = await cairn('restore', '--backup-id', 'nohost_1700000000', '--to', join(work, 'x'), '--json');
    expect(restore.code).toBe(2);
    expect(JSON.parse(restore.stdout)).toMatchObject({ statusCode: 227, message: 'image nohost_1700000000 not found' });
    const human = await cairn('restore', '--backup-id', 'nohost_1700000000', '--to', join(work, 'x'));
    expect(human.stderr).toMatch(/status 227 .*image nohost_1700000000 not found/);
  });

  it('refuses a malformed storage unit and names the field', async () => {
    const add = await cairn('storage-unit', 'add', '--name', '../bad', '--kind', 'disk', '--path', work, '--json');
    expect(add.code).toBe(2);
    expect(JSON.parse(add.stdout).details.join('\n')).toMatch(/^name: /m);
    const units = JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as { name: string }[];
    expect(units.map((u) => u.name)).toEqual(['local-disk']);
  });

  it('adds a compressing storage unit, and refuses a compression level without zstd naming the field', async () => {
    const bad = await cairn('storage-unit', 'add', '--name', 'zbad', '--kind', 'disk', '--path', join(work, 'zbad'), '--compression-level', '3', '--json');
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).details.join('\n')).toMatch(/^compression: .*level/m);
    const add = await cairn('storage-unit', 'add', '--name', 'zdisk', '--kind', 'disk', '--path', join(work, 'zdisk'), '--compression', 'zstd', '--json');
    expect(add.code).toBe(0);
    const units = JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as { name: string; compression?: unknown }[];
    expect(units.find((u) => u.name === 'zdisk')?.compression).toEqual({ codec: 'zstd', level: 1 });
    expect((await cairn('storage-unit', 'list')).stdout).toMatch(/^zdisk +disk .* zstd-1$/m);
  });

  it('adds a unit with --piece-mib; a file above it is backed up as pieces, listed once by ls and images, and restored', async () => {
    const add = await cairn('storage-unit', 'add', '--name', 'pdisk', '--kind', 'disk', '--path', join(work, 'pdisk'), '--piece-mib', '1', '--fragment-mib', '1', '--json');
    expect(add.code, add.stdout).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'pdisk', pieceBytes: 1024 * 1024 });
    const source = join(work, 'pieced');
    mkdirSync(source);
    writeFileSync(join(source, 'big.bin'), randomBytes(3 * 1024 * 1024 + 5));
    const backup = await cairn('backup', '--client', 'piece-host', '--path', source, '--storage-unit', 'pdisk', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };

    const ls = JSON.parse((await cairn('ls', '--client', 'piece-host', source, '--json')).stdout) as { entries: { path: string; size: number }[] };
    // The directory and the file, once, under its own name: no GNUFileParts.
    expect(ls.entries.map((e) => [e.path, e.size])).toEqual([
      [source, 0],
      [join(source, 'big.bin'), 3 * 1024 * 1024 + 5],
    ]);
    const images = JSON.parse((await cairn('images', '--client', 'piece-host', '--json')).stdout) as { backupId: string; fileCount: number; fragments: unknown[] }[];
    expect(images).toMatchObject([{ backupId, fileCount: 2 }]);
    expect(images[0]!.fragments.length).toBeGreaterThan(2);
    const target = join(work, 'pieced-restore');
    const restore = await cairn('restore', '--backup-id', backupId, '--to', target, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect(readFileSync(join(target, source, 'big.bin')).equals(readFileSync(join(source, 'big.bin')))).toBe(true);
  });

  it('adds a tape unit whose indexes go to the default disk unit, and refuses options of another kind, a tape index unit and --max-jobs', async () => {
    expect((await cairn('robot', 'add', 'lib1', '--mtx', '/dev/sg9', '--drive', '/dev/nst0', '--drive', '/dev/nst1', '--drive', '/dev/nst2', '--client', 'tapehost')).code).toBe(0);
    expect((await cairn('pool', 'add', 'weekly')).code).toBe(0);
    const add = await cairn('storage-unit', 'add', '--name', 'tld0', '--kind', 'tape', '--robot', 'lib1', '--pool', 'weekly', '--drives', '2', '--json');
    expect(add.code, add.stdout).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'tld0', kind: 'tape', robot: 'lib1', pool: 'weekly', index: { name: 'local-disk', kind: 'disk' }, maxConcurrentJobs: 2, mediaUnmountDelaySeconds: 180 });
    expect((await cairn('storage-unit', 'list')).stdout).toMatch(/^tld0 +tape +robot lib1, pool weekly \(indexes on local-disk\) +2 /m);

    const withBucket = await cairn('storage-unit', 'add', '--name', 'tld1', '--kind', 'tape', '--robot', 'lib1', '--pool', 'weekly', '--bucket', 'b1', '--json');
    expect(JSON.parse(withBucket.stdout).details.join('\n')).toMatch(/bucket/);
    const onTape = await cairn('storage-unit', 'add', '--name', 'tld2', '--kind', 'tape', '--robot', 'lib1', '--pool', 'p', '--index-unit', 'tld0', '--json');
    expect(JSON.parse(onTape.stdout)).toMatchObject({ statusCode: 20, message: expect.stringMatching(/index unit tld0 is a tape unit/) });
    const noIndex = await cairn('storage-unit', 'add', '--name', 'tld3', '--kind', 'tape', '--robot', 'lib1', '--pool', 'p', '--index-unit', 'nowhere', '--json');
    expect(JSON.parse(noIndex.stdout)).toMatchObject({ statusCode: 219, message: expect.stringMatching(/index unit nowhere does not exist/) });
    const maxJobs = await cairn('storage-unit', 'add', '--name', 'tld4', '--kind', 'tape', '--robot', 'lib1', '--pool', 'p', '--max-jobs', '3', '--json');
    expect(JSON.parse(maxJobs.stdout)).toMatchObject({ statusCode: 20, message: expect.stringMatching(/give --drives/) });
    const diskWithRobot = await cairn('storage-unit', 'add', '--name', 'd9', '--kind', 'disk', '--path', join(work, 'd9'), '--robot', 'lib1', '--json');
    expect(JSON.parse(diskWithRobot.stdout).details.join('\n')).toMatch(/robot/);
    const names = (JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as { name: string }[]).map((u) => u.name);
    expect(names).toContain('tld0');
    expect(names.filter((n) => /^(tld[1-4]|d9)$/.test(n))).toEqual([]);
  });

  it('ends a backup of a missing path with status 71 and exit code 2', async () => {
    const backup = await cairn('backup', '--client', 'cli-host', '--path', join(work, 'nothing-here'));
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/status 71 \(none of the files in the file list exist\)/);
    // The id the job claimed names no image, so the job views do not show it as one.
    const [job] = JSON.parse((await cairn('jobs', '--json')).stdout) as { jobId: number; backupId: string }[];
    expect((await cairn('jobs')).stdout).toMatch(new RegExp(`^${job!.jobId} +DONE +71 .* - +\\S+$`, 'm'));
    expect((await cairn('jobs', 'show', String(job!.jobId))).stdout).toMatch(new RegExp(`backup id +none \\(${job!.backupId} was claimed; the job ended with status 71, so no image has it\\)`));
  });
});
