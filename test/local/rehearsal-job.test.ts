import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { primaryCopy } from '#core/model/image.ts';
import { asKind } from '#core/model/job.ts';
import { queueRehearsal, rehearsalCommand } from '#core/jobs/rehearsal.ts';
import { StatusCode } from '#core/status-codes.ts';
import { buildReport } from '#core/report/build-report.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import type { DueVerify } from '#core/schedule/verify-due.ts';
import { tickAndWait } from './tick-and-wait.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const allDay = [{ days: [...everyDay], start: '00:00', duration: 86400 }];

/**
 * Restore rehearsals in the standalone runtime: a verify-kind job through
 * the real verify-job.asl.json whose Verify step restores a sample of the
 * client's latest point-in-time view into scratch with the real restore
 * code, compares it with the index and removes the scratch directory.
 */
describe('restore rehearsal in the standalone runtime', () => {
  let work: string;
  let rt: LocalRuntime;
  const clock = new FakeClock(new Date('2026-11-02T01:00:00Z'));
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-rehearsal-job-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function fullAndIncremental(source: string): Promise<{ full: string; incr: string }> {
    makeSampleTree(source, { largeBytes: 300_000 });
    await rt.config.putPolicy(
      samplePolicy('office', {
        selections: [source],
        storageUnit: 'local-disk',
        clients: [{ name: 'pc1', priority: 1 }],
        schedules: [
          { name: 'weekly-full', type: 'full', frequency: 7 * 86400, windows: allDay, retention: { days: 30 } },
          { name: 'daily-incr', type: 'differential-incremental', frequency: 86400, windows: allDay, retention: { days: 30 } },
        ],
      }),
    );
    const full = (await tickAndWait(rt))[0]!;
    expect(full.statusCode, full.error).toBe(0);
    writeFileSync(join(source, 'docs', 'new file.txt'), 'new on day 1');
    clock.advance(86_400_000);
    const incr = (await tickAndWait(rt))[0]!;
    expect(incr.statusCode, incr.error).toBe(0);
    expect(await rt.catalog.getImage(incr.backupId!)).toMatchObject({ level: 'differential-incremental' });
    return { full: full.backupId!, incr: incr.backupId! };
  }

  it('a scheduled rehearsal of full + incremental ends 0 with its sample checked and scratch removed; a damaged file makes a rehearsal of all end 2001 naming it', async () => {
    const source = join(work, 'source');
    const { full, incr } = await fullAndIncremental(source);
    // The rehearsal schedule joins the policy; a tick an hour later starts it (and a second tick starts nothing twice).
    const policy = (await rt.config.getPolicy('office'))!;
    await rt.config.putPolicy({ ...policy, rehearsal: { frequency: 86400, windows: allDay, sample: 5 } });
    clock.advance(3_600_000);
    const started: DueVerify[] = [];
    const scheduler = localScheduler(rt, { onVerifyStarted: (job) => started.push(job) });
    await scheduler.tick();
    await scheduler.tick();
    await scheduler.settled();
    expect(started.map((s) => [s.backupId, (s as { kind?: string }).kind])).toEqual([[incr, 'rehearsal']]);

    const job = (await rt.jobs.list({ limit: 20 })).flatMap((j) => asKind(j, 'verify') ?? [])[0]!;
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'DONE', statusCode: 0, image: incr, client: 'pc1', policy: 'office', schedule: 'rehearsal', problemCount: 0 });
    expect(job.rehearsal).toMatchObject({ sample: 5, images: [incr], sampleSize: 5, filesChecked: 5, scratchDeleted: true });
    // The largest file is always sampled, and it is unchanged since the full: the chain was followed.
    expect(job.rehearsal!.restoredFrom).toEqual(expect.arrayContaining([full, incr]));
    expect(job.rehearsal!.bytes).toBeGreaterThanOrEqual(300_000);
    expect(job.progress.files).toBe(5);
    expect(job.rehearsal!.scratchPath).toMatch(new RegExp(`^${join(rt.home, 'rehearsals')}/cairn-rehearsal-${job.jobId}-${process.pid}-`));
    expect(existsSync(job.rehearsal!.scratchPath!)).toBe(false);
    expect(readdirSync(join(rt.home, 'rehearsals'))).toEqual([]);

    const report = buildReport(await rt.jobs.list({ limit: 50 }), { from: new Date(0), to: clock.now() }, clock.now());
    expect(report.jobs.find((l) => l.jobId === job.jobId)).toMatchObject({ kind: 'rehearsal', outcome: 'success', files: 5, client: 'pc1' });

    // One byte of run.sh's data in the full's fragment (the tar header stays valid): unchanged since, so the incremental's tree takes it from there.
    const image = (await rt.catalog.getImage(full))!;
    const unit = await rt.config.getStorageUnit('local-disk');
    const fragment = primaryCopy(image).fragments[0]!;
    if (unit?.kind !== 'disk' || fragment.location.kind !== 'object') throw new Error('expected a disk image');
    const file = join(unit.path, fragment.location.key);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('#!/bin/sh\necho hello\n'));
    expect(at).toBeGreaterThan(0);
    bytes[at + 12] = bytes[at + 12]! ^ 0x20;
    writeFileSync(file, bytes);

    const bad = await runVerifyJob(rt, { policy: 'office', rehearsal: { client: 'pc1', sample: 'all' } });
    expect(bad.statusCode, bad.error).toBe(StatusCode.CORRUPT_IMAGE);
    expect(bad.error).toContain(`${source}/run.sh`);
    expect(bad.job!.rehearsal).toMatchObject({ sample: 'all', images: [incr], scratchDeleted: true });
    expect(existsSync(bad.job!.rehearsal!.scratchPath!)).toBe(false);
    expect(readdirSync(join(rt.home, 'rehearsals'))).toEqual([]);
    const after = buildReport(await rt.jobs.list({ limit: 50 }), { from: new Date(0), to: clock.now() }, clock.now());
    expect(after.jobs.find((l) => l.jobId === bad.jobId)).toMatchObject({ kind: 'rehearsal', outcome: 'failed', statusCode: StatusCode.CORRUPT_IMAGE });
    expect(after.jobs.find((l) => l.jobId === bad.jobId)!.reason).toContain('run.sh');
  }, 120_000);

  it('a rehearsal of every file ends 0 with every regular file checked', async () => {
    const source = join(work, 'source');
    const { incr } = await fullAndIncremental(source);
    const run = await runVerifyJob(rt, { backupId: incr, rehearsal: { sample: 'all' } });
    expect(run.statusCode, run.error).toBe(0);
    // makeSampleTree's regular files (the hard link is a link), plus the file added on day 1.
    const files = makeSampleTree(join(work, 'count'), { largeBytes: 300_000 }).files + 1;
    expect(run.job!.rehearsal).toMatchObject({ sampleSize: files, filesChecked: files, scratchDeleted: true });
  }, 120_000);

  it('the next rehearsal removes the scratch directory an agent killed mid-rehearsal left behind', async () => {
    const source = join(work, 'source');
    const { incr } = await fullAndIncremental(source);
    // What a killed rehearsal leaves: its directory, named by a process that no longer exists, with a read-only directory in it.
    const dead = spawnSync('true').pid;
    const scratch = join(work, 'scratch');
    const left = join(scratch, `cairn-rehearsal-41-${dead}-abc123`);
    mkdirSync(join(left, 'home', 'restored'), { recursive: true });
    writeFileSync(join(left, 'home', 'restored', 'file'), 'half restored');
    chmodSync(join(left, 'home'), 0o500);
    // A directory of this process (a rehearsal still running here) and an unrelated one are left alone.
    const mine = join(scratch, `cairn-rehearsal-42-${process.pid}-def456`);
    mkdirSync(mine);
    mkdirSync(join(scratch, 'not-ours'));

    const run = await runVerifyJob(rt, { backupId: incr, rehearsal: { sample: 3, scratch } });
    expect(run.statusCode, run.error).toBe(0);
    expect(run.job!.rehearsal).toMatchObject({ scratch, filesChecked: 3, scratchDeleted: true });
    expect(existsSync(left)).toBe(false);
    expect(readdirSync(scratch).sort()).toEqual([`cairn-rehearsal-42-${process.pid}-def456`, 'not-ours']);
  }, 120_000);

  it('an image only on tape, with managed-instance agents (the cloud): Start refuses it (20) with the reason; standalone it is rehearsed from tape (test/local/tape-rehearsal.test.ts)', async () => {
    const image = sampleImage('pc1', new Date('2026-11-01T22:00:00Z'), { policy: 'office', storageUnit: 'tape1' });
    const onTape = { ...image, copies: image.copies.map((c) => ({ ...c, fragments: c.fragments.map((f) => ({ ...f, location: { kind: 'tape' as const, mediaId: 'CRN001', fileNumber: 1, blockOffset: 2 } })) })) };
    expect(await rt.catalog.claimBackupId({ backupId: image.backupId, jobId: 1, client: 'pc1', storageUnit: 'tape1', claimedAt: image.createdAt })).toBe(true);
    await rt.catalog.putImage(onTape);
    const deps = { config: rt.config, jobs: rt.jobs, catalog: rt.catalog, agents: 'managed-instances' as const };
    const ref = await queueRehearsal(deps, { backupId: image.backupId }, { sample: 'all' }, clock.now());
    const job = asKind(await rt.jobs.get(ref.jobId), 'verify')!;
    await expect(rehearsalCommand(deps, job, clock.now())).rejects.toMatchObject({ statusCode: StatusCode.INVALID_COMMAND_USAGE });
    await expect(rehearsalCommand(deps, job, clock.now())).rejects.toThrow(`image ${image.backupId} of client pc1 is only on tape (storage unit tape1): a rehearsal in the cloud restores from a disk or S3 copy: rehearsing from tape runs in the standalone runtime only`);
    expect(existsSync(join(rt.home, 'rehearsals'))).toBe(false);
  });

  it('refuses a rehearsal of a client the policy does not list before queueing a job (48)', async () => {
    await rt.config.putPolicy(samplePolicy('office', { selections: ['/tmp'], storageUnit: 'local-disk', clients: [{ name: 'pc1', priority: 1 }] }));
    const run = await runVerifyJob(rt, { policy: 'office', rehearsal: { client: 'pc9' } });
    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.CLIENT_NOT_FOUND);
    expect(run.error).toContain('client pc9 is not a client of policy office');
  });
});
