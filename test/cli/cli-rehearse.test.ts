import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { runCairn, spawnCairn, type CliResult } from './cli-process.ts';

/** `cairn rehearse` as an operator runs it: a restore rehearsal job, progress, --json, scratch removed; `cairn schedule due` and `cairn report` show it. */
describe('cairn rehearse', () => {
  let work: string;
  let home: string;
  let source: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cli-rehearse-'));
    home = join(work, 'home');
    source = join(work, 'source');
    mkdirSync(join(source, 'docs'), { recursive: true });
    writeFileSync(join(source, 'docs', 'a.txt'), 'alpha\n');
    writeFileSync(join(source, 'docs', 'b.txt'), 'bravo bravo\n');
    writeFileSync(join(source, 'big.bin'), Buffer.alloc(100_000, 7));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('rehearses a policy\'s client (0, sample checked, scratch removed), shows it due and in the report, and refuses bad options with their reason', async () => {
    const policies = join(work, 'policies.yaml');
    writeFileSync(
      policies,
      [
        'name: office',
        'clients: [{ name: rhost }]',
        `selections: [${JSON.stringify(source)}]`,
        'storageUnit: local-disk',
        'schedules: [{ name: full, type: full, frequency: 1d, windows: [{ days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", duration: 24h }] }]',
        'rehearsal: { frequency: 1w, windows: [{ days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", duration: 24h }], sample: 2 }',
        '',
      ].join('\n'),
    );
    const applied = await cairn('policy', 'apply', '-f', policies);
    expect(applied.code, applied.stderr).toBe(0);
    const backup = await cairn('backup', '--client', 'rhost', '--policy', 'office', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };

    const due = await cairn('schedule', 'due', '--json');
    expect((JSON.parse(due.stdout) as { rehearsals?: Array<{ backupId: string; reason: string }> }).rehearsals).toEqual([expect.objectContaining({ backupId, reason: `image ${backupId} has not been rehearsed (2 files)` })]);

    const run = await cairn('rehearse', '--policy', 'office', '--json');
    expect(run.code, run.stderr).toBe(0);
    const outcome = JSON.parse(run.stdout) as { jobId: number; statusCode: number; sample: number; sampleSize: number; filesChecked: number; scratchPath: string; scratchDeleted: boolean; restoredFrom: string[] };
    expect(outcome).toMatchObject({ backupId, client: 'rhost', statusCode: 0, sample: 2, sampleSize: 2, filesChecked: 2, scratchDeleted: true, restoredFrom: [backupId], mismatchCount: 0 });
    expect(outcome.scratchPath.startsWith(join(home, 'rehearsals', `cairn-rehearsal-${outcome.jobId}-`))).toBe(true);
    expect(existsSync(outcome.scratchPath)).toBe(false);

    const text = await cairn('rehearse', '--backup-id', backupId, '--sample', 'all', '--scratch', join(work, 'scratch'));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/rehearsal job \d+ ended with status 0 .*: 3 of 3 sampled files checked/);
    expect(text.stderr).toMatch(/scratch .*cairn-rehearsal-\d+-\d+-\w+: removed/);
    expect(readdirSync(join(work, 'scratch'))).toEqual([]);

    const shown = await cairn('jobs', 'show', String(outcome.jobId));
    expect(shown.stdout).toMatch(/rehearsal\s+sample 2 \(2 files\), 2 checked/);
    expect(shown.stdout).toMatch(/scratch\s+.*cairn-rehearsal-\d+-\d+-\w+ \(removed\)/);
    const report = JSON.parse((await cairn('report', '--since', '1h', '--json')).stdout) as { jobs: Array<{ jobId: number; kind: string; files: number }> };
    expect(report.jobs.find((j) => j.jobId === outcome.jobId)).toMatchObject({ kind: 'rehearsal', files: 2 });

    const zero = await cairn('rehearse', '--backup-id', backupId, '--sample', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--sample');
    const relative = await cairn('rehearse', '--backup-id', backupId, '--scratch', 'tmp/x', '--json');
    expect(relative.code).toBe(2);
    expect(JSON.parse(relative.stdout).message).toContain('an absolute directory on the client');
    expect((await cairn('rehearse')).code).toBe(2);
    const stranger = await cairn('rehearse', '--policy', 'office', '--client', 'nobody', '--json');
    expect(stranger.code).toBe(2);
    expect(JSON.parse(stranger.stdout).message).toContain('client nobody is not a client of policy office');
  }, 180_000);

  it('a rehearsal killed mid-restore leaves its scratch directory; the next rehearsal there removes it', async () => {
    const tree = join(work, 'killed-source');
    mkdirSync(tree);
    writeFileSync(join(tree, 'large.bin'), randomBytes(48 * 1024 * 1024));
    writeFileSync(join(tree, 'small.txt'), 'small\n');
    const backup = await cairn('backup', '--client', 'khost', '--path', tree, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };
    const scratch = join(work, 'kill-scratch');
    mkdirSync(scratch);

    // SIGKILL as soon as the rehearsal's directory appears: nothing in the process runs after it, no finally.
    const { child, exited } = spawnCairn(home, ['rehearse', '--backup-id', backupId, '--sample', 'all', '--scratch', scratch]);
    const started = Date.now();
    let left: string[] = [];
    while (left.length === 0 && Date.now() - started < 60_000) {
      left = readdirSync(scratch).filter((n) => n.startsWith('cairn-rehearsal-'));
      if (left.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    expect(await exited).toMatchObject({ signal: 'SIGKILL' });
    expect(left).toHaveLength(1);
    expect(readdirSync(scratch)).toEqual(left);

    const next = await cairn('rehearse', '--backup-id', backupId, '--sample', '1', '--scratch', scratch, '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ statusCode: 0, filesChecked: 1, scratchDeleted: true });
    expect(readdirSync(scratch)).toEqual([]);
  }, 180_000);
});
