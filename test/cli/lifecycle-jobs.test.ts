import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime } from '#local/runtime.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { Job } from '#core/model/job.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { runCairn, spawnCairn, type CliResult } from './cli-process.ts';

/**
 * Duplicates, image cleanups, catalog backups and catalog checks are jobs
 * (core/jobs/lifecycle-job.ts): `cairn jobs` and `cairn report` show them
 * with their status and reason, and one whose process is killed is ended
 * by the janitor.
 */
describe('lifecycle operations as jobs', () => {
  let work: string;
  let home: string;
  let source: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  const json = <T>(result: CliResult): T => {
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-lifecycle-jobs-'));
    home = join(work, 'home');
    source = join(work, 'source');
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'a.txt'), 'alpha\n');
    // A unit whose directory cannot be made: its path is a file (root writes into any directory).
    writeFileSync(join(work, 'not-a-directory'), 'x');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('cairn duplicate, images expire, catalog backup and catalog check each record a job; failures end with their status and reason; the report lists them failures first', async () => {
    const { backupId } = json<{ backupId: string }>(await cairn('backup', '--client', 'lhost', '--path', source, '--json'));
    expect((await cairn('storage-unit', 'add', '--name', 'second', '--kind', 'disk', '--path', join(work, 'second'))).code).toBe(0);
    expect((await cairn('storage-unit', 'add', '--name', 'broken', '--kind', 'disk', '--path', join(work, 'not-a-directory', 'stu'))).code).toBe(0);

    const dup = json<{ jobId: number; copyNumber: number }>(await cairn('duplicate', '--backup-id', backupId, '--to', 'second', '--json'));
    const failedDup = await cairn('duplicate', '--backup-id', backupId, '--to', 'broken');
    expect(failedDup.code).not.toBe(0);
    const catalogBackup = json<{ jobId: number; backupId: string; drFile: string }>(await cairn('catalog', 'backup', '--to', 'second', '--json'));
    const failedCatalogBackup = await cairn('catalog', 'backup', '--to', 'nowhere');
    expect(failedCatalogBackup.stderr).toContain('storage unit nowhere does not exist');
    const check = await cairn('catalog', 'check', '--json');
    const expire = json<{ jobId: number; expired: { backupId: string }[] }>(await cairn('images', 'expire', '--backup-id', backupId, '--json'));
    expect(expire.expired.map((e) => e.backupId)).toEqual([backupId]);

    const jobs = json<Job[]>(await cairn('jobs', '--json'));
    const byKind = (type: string) => jobs.filter((j) => j.type === type).sort((a, b) => a.jobId - b.jobId);
    expect(byKind('duplicate').map((j) => [j.state, j.statusCode, 'storageUnit' in j ? j.storageUnit : ''])).toEqual([
      ['DONE', 0, 'second'],
      ['DONE', StatusCode.INTERNAL_ERROR, 'broken'],
    ]);
    expect(byKind('duplicate')[0]).toMatchObject({ jobId: dup.jobId, image: backupId, client: 'lhost', copyNumber: 2, fromCopy: 1 });
    expect(byKind('duplicate')[1]!.error).toContain('not-a-directory');
    expect(byKind('catalog-backup').map((j) => [j.state, j.statusCode, j.error])).toEqual([
      ['DONE', 0, undefined],
      ['DONE', StatusCode.INVALID_COMMAND_USAGE, 'storage unit nowhere does not exist'],
    ]);
    expect(byKind('catalog-backup')[0]).toMatchObject({ jobId: catalogBackup.jobId, image: catalogBackup.backupId, drFile: catalogBackup.drFile, storageUnit: 'second' });
    expect(byKind('catalog-check').map((j) => [j.state, j.statusCode])).toEqual([['DONE', check.code === 0 ? 0 : 1]]);
    expect(byKind('image-cleanup')).toMatchObject([{ jobId: expire.jobId, state: 'DONE', statusCode: 0, trigger: 'command', expired: [backupId], expiredCount: 1 }]);

    const shown = await cairn('jobs', 'show', String(dup.jobId));
    expect(shown.stdout).toMatch(/to\s+second as copy 2/);
    const table = await cairn('jobs');
    expect(table.stdout).toContain(`${backupId} → second (copy 2)`);

    const report = json<JobReport>(await cairn('report', '--json'));
    const lines = report.jobs.map((l) => [l.kind, l.outcome, l.statusCode]);
    expect(lines.slice(0, 2).map(([, outcome]) => outcome)).toEqual(['failed', 'failed']);
    expect(lines).toEqual(expect.arrayContaining([['duplicate', 'success', 0], ['duplicate', 'failed', StatusCode.INTERNAL_ERROR], ['catalog-backup', 'failed', StatusCode.INVALID_COMMAND_USAGE], ['image-cleanup', 'success', 0]]));
    expect(report.jobs.find((l) => l.kind === 'catalog-backup' && l.outcome === 'failed')!.reason).toBe('storage unit nowhere does not exist');
  }, 180_000);

  it('a duplicate whose process is killed -9 is ended by the janitor (2002, naming the process); the image keeps its copy and a new duplicate makes it', async () => {
    const big = join(work, 'big');
    mkdirSync(big);
    writeFileSync(join(big, 'random.bin'), randomBytes(96 * 1024 * 1024));
    const { backupId } = json<{ backupId: string }>(await cairn('backup', '--client', 'khost', '--path', big, '--json'));
    expect((await cairn('storage-unit', 'add', '--name', 'third', '--kind', 'disk', '--path', join(work, 'third'))).code).toBe(0);

    const runtime = await openLocalRuntime({ home });
    let victim: Job | undefined;
    try {
      const { child, exited } = spawnCairn(home, ['duplicate', '--backup-id', backupId, '--to', 'third']);
      while (victim === undefined && child.exitCode === null) {
        victim = (await runtime.jobs.list({ state: 'ACTIVE' })).find((j) => j.type === 'duplicate');
        if (victim === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      child.kill('SIGKILL');
      await exited;
    } finally {
      runtime.close();
    }
    expect(victim, 'the duplicate job was seen ACTIVE before the process ended').toBeDefined();

    // Any command runs the janitor first.
    const ended = json<Job>(await cairn('jobs', 'show', String(victim!.jobId), '--json'));
    expect(ended).toMatchObject({ state: 'DONE', statusCode: StatusCode.JOB_ORPHANED });
    expect(ended.error).toContain(`the process that ran the job (${victim!.owner}) stopped while the job was ACTIVE`);
    const [image] = json<{ copies: { copyNumber: number }[] }[]>(await cairn('images', '--client', 'khost', '--json'));
    expect(image!.copies.map((c) => c.copyNumber)).toEqual([1]);
    const again = json<{ copyNumber: number }>(await cairn('duplicate', '--backup-id', backupId, '--to', 'third', '--json'));
    expect(again.copyNumber).toBe(2);
  }, 180_000);
});
