import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { primaryCopy } from '#core/model/image.ts';
import { StatusCode } from '#core/status-codes.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { asKind } from '#core/model/job.ts';
import { tickAndWait } from './tick-and-wait.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A verify job runs through verify-job.asl.json in the standalone runtime and ends 0, or 2001 naming the first bad member. */
describe('verify job in the standalone runtime', () => {
  let work: string;
  let rt: LocalRuntime;
  const clock = new FakeClock(new Date());
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-verify-job-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('verifies a clean image (status 0, entries and bytes counted), then names the member whose data was damaged (2001)', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 200_000 });
    await rt.config.putPolicy(
      samplePolicy('office', {
        selections: [source],
        storageUnit: 'local-disk',
        clients: [{ name: 'pc1', priority: 1 }],
        schedules: [{ name: 'daily-full', type: 'full', frequency: 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 30 } }],
      }),
    );
    const runs = await tickAndWait(rt);
    expect(runs.map((r) => r.statusCode)).toEqual([0]);
    const backupId = runs[0]!.backupId!;

    const queued: number[] = [];
    const clean = await runVerifyJob(rt, { backupId }, { onQueued: (ref) => queued.push(ref.jobId) });
    expect(clean.statusCode, clean.error).toBe(StatusCode.SUCCESS);
    expect(queued).toEqual([clean.jobId]);
    const image = (await rt.catalog.getImage(backupId))!;
    expect(clean.job).toMatchObject({ type: 'verify', state: 'DONE', image: backupId, client: 'pc1', problemCount: 0 });
    expect(clean.job!.progress.files).toBe(image.fileCount);
    expect(clean.job!.progress.bytes).toBeGreaterThan(200_000);

    // One byte of a file's data in the first fragment: the member named is the file that holds it.
    const unit = await rt.config.getStorageUnit('local-disk');
    const fragment = primaryCopy(image).fragments[0]!;
    if (unit?.kind !== 'disk' || fragment.location.kind !== 'object') throw new Error('expected a disk image');
    const file = join(unit.path, fragment.location.key);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('#!/bin/sh\necho hello\n'));
    expect(at).toBeGreaterThan(0);
    bytes[at + 12] = bytes[at + 12]! ^ 0x20;
    writeFileSync(file, bytes);

    const bad = await runVerifyJob(rt, { backupId });
    expect(bad.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(bad.error).toContain(`${source}/run.sh (fragment 1 (${fragment.location.key}) at byte`);
    expect(bad.error).toContain('its content has sha256');
    expect(bad.job).toMatchObject({ state: 'DONE', statusCode: StatusCode.CORRUPT_IMAGE, problemCount: 1 });
    expect(bad.job!.problems[0]).toContain('run.sh');
  }, 60_000);

  it('a policy with a verify schedule: the tick after the backup verifies its image, once, through a verify job', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 100_000 });
    const allDay = [{ days: [...everyDay], start: '00:00', duration: 86400 }];
    await rt.config.putPolicy(
      samplePolicy('office', {
        selections: [source],
        storageUnit: 'local-disk',
        clients: [{ name: 'pc1', priority: 1 }],
        schedules: [{ name: 'daily-full', type: 'full', frequency: 86400, windows: allDay, retention: { days: 30 } }],
        verify: { frequency: 86400, windows: allDay },
      }),
    );
    const runs = await tickAndWait(rt);
    expect(runs.map((r) => r.statusCode)).toEqual([0]);
    const started: string[] = [];
    const scheduler = localScheduler(rt, { onVerifyStarted: (job) => started.push(job.backupId) });
    await scheduler.tick();
    await scheduler.tick(); // a second tick starts nothing twice
    await scheduler.settled();
    expect(started).toEqual([runs[0]!.backupId]);
    const verifies = (await rt.jobs.list({ limit: 10 })).flatMap((j) => asKind(j, 'verify') ?? []);
    expect(verifies.map((j) => [j.image, j.state, j.statusCode, j.policy, j.schedule])).toEqual([[runs[0]!.backupId, 'DONE', 0, 'office', 'verify']]);
    await scheduler.tick();
    await scheduler.settled();
    expect(started).toHaveLength(1);
  }, 60_000);

  it('refuses an image that is not in the catalog before queueing a job (227)', async () => {
    const run = await runVerifyJob(rt, { backupId: 'nobody_1700000000' });
    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.IMAGE_NOT_FOUND);
    expect(await rt.jobs.list({ limit: 10 })).toEqual([]);
  });
});
