import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runJanitor } from '#local/janitor.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { sampleJob, samplePolicy } from '../contracts/fixtures.ts';
import { asKind } from '#core/model/job.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { withFaults } from '#test/support/faults.ts';

/** The standalone runtime end to end: the real ASL, the real handlers, SQLite, the agent, a disk storage unit. */
describe('a backup job in the standalone runtime', () => {
  let work: string;
  let runtime: LocalRuntime;
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-e2e-'));
    runtime = await openLocalRuntime({ home: join(work, 'home') });
  });
  afterEach(() => {
    runtime.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('backs up a tree, catalogs the image, releases its slot, and restores it byte for byte', async () => {
    // Prepare
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 3 * 1024 * 1024 });
    const queued: number[] = [];
    // Act
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source] }, { onQueued: (job) => queued.push(job.jobId) });
    // Assess
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect(queued).toEqual([run.jobId]);
    const job = asKind(await runtime.jobs.get(run.jobId!), 'backup');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, policy: 'manual', storageUnit: 'local-disk', backupId: run.backupId });
    expect(job!.progress.files).toBeGreaterThan(10);
    expect(job!.backupId).toMatch(/^host1_\d{10}$/);
    expect(await runtime.media.listReservations()).toEqual([]);

    const image = await runtime.catalog.getImage(run.backupId!);
    expect(image).toMatchObject({ client: 'host1', statusCode: 0, jobId: run.jobId, state: 'ACTIVE' });
    const unit = (await runtime.config.getStorageUnit('local-disk'))!;
    const target = join(work, 'restore');
    const restored = await restoreImage({ store: await openStorageUnit(unit), image: image!, targetDir: target });
    expect(restored.refused).toEqual([]);
    const comparison = await compareTrees(source, join(target, source));
    expect(comparison.differences).toEqual([]);
    expect(comparison.hardLinks).toBe(1);
    expect(comparison.symlinks).toBe(2);
  });

  it('ends with status 71 and no image when none of the selections exist', async () => {
    const run = await runBackupJob(runtime, { client: 'host1', selections: [join(work, 'does-not-exist')] });
    expect(run.statusCode).toBe(71);
    expect((await runtime.jobs.get(run.jobId!))?.state).toBe('DONE');
    expect(await runtime.catalog.listImages()).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('rejects a request for an unknown policy with status 230 and queues nothing', async () => {
    const run = await runBackupJob(runtime, { client: 'host1', policy: 'no-such-policy' });
    expect(run.statusCode).toBe(230);
    expect(run.error).toMatch(/no-such-policy/);
    expect(await runtime.jobs.list()).toEqual([]);
  });

  it('runs a policy for one of its clients with the policy selections and retention', async () => {
    const source = join(work, 'data');
    makeSampleTree(source, { largeBytes: 1024 });
    await runtime.config.putPolicy(samplePolicy('nightly', { selections: [source], storageUnit: 'local-disk', clients: [{ name: 'host2', priority: 1 }] }));
    const run = await runBackupJob(runtime, { client: 'host2', policy: 'nightly' });
    expect(run.statusCode).toBe(0);
    const image = await runtime.catalog.getImage(run.backupId!);
    expect(image).toMatchObject({ policy: 'nightly', schedule: 'full', level: 'full' });
    expect(Date.parse(image!.expiresAt) - Date.parse(image!.createdAt)).toBe(28 * 86_400_000);
  });

  it('waits QUEUED with a visible reason while the storage unit is full, then runs', async () => {
    const source = join(work, 'small');
    makeSampleTree(source, { largeBytes: 10 });
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'one-slot', kind: 'disk', path: join(work, 'one-slot'), maxConcurrentJobs: 1 }));
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    await runtime.media.reserve({ jobId: 999, resources: [{ kind: 'storage-unit-slot', storageUnit: 'one-slot', maxConcurrentJobs: 1 }], at: new Date() });
    let jobId = 0;
    const running = runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'one-slot' }, { onQueued: (job) => (jobId = job.jobId) });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const waiting = await runtime.jobs.get(jobId);
    expect(waiting?.state).toBe('QUEUED');
    expect(waiting?.waitingReason).toMatch(/one-slot has 1 of 1 slots in use/);
    await runtime.media.release(999);
    expect((await running).statusCode).toBe(0);
  });

  it('ends with a media error and releases the slot when the storage unit cannot be written', async () => {
    const source = join(work, 'small');
    makeSampleTree(source, { largeBytes: 10 });
    const notADirectory = join(work, 'a-file');
    writeFileSync(notADirectory, 'x');
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'broken', kind: 'disk', path: join(notADirectory, 'unit') }));
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'broken' });
    expect(run.statusCode).toBe(84);
    expect((await runtime.jobs.get(run.jobId!))?.error).toBeTruthy();
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await runtime.catalog.listImages()).toEqual([]);
  });

  it('retries a retryable failure after the delay as the next attempt of the same job, and shows the attempts', async () => {
    const source = join(work, 'small');
    makeSampleTree(source, { largeBytes: 10 });
    const blocker = join(work, 'blocker');
    writeFileSync(blocker, 'x');
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'flaky', kind: 'disk', path: join(blocker, 'unit') }));
    await runtime.config.putSetting('jobRetryDelaySeconds', 1);
    await runtime.config.putSetting('backupTries', { tries: 3, withinHours: 12 });
    let jobId = 0;
    const running = runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'flaky' }, { onQueued: (job) => (jobId = job.jobId) });
    // Attempt 1 fails (84: the unit's path runs through a file); fix the unit while the job waits its retry delay.
    for (let i = 0; i < 50 && (await runtime.jobs.get(jobId))?.attempt !== 2; i++) await new Promise((r) => setTimeout(r, 100));
    const waiting = await runtime.jobs.get(jobId);
    expect(waiting).toMatchObject({ state: 'QUEUED', attempt: 2, waitingReason: expect.stringMatching(/^retry: attempt 1 ended with status 84; attempt 2 of 3/) });
    rmSync(blocker);
    const run = await running;
    expect(run).toMatchObject({ jobId, statusCode: 0 });
    const job = await runtime.jobs.get(jobId);
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, attempt: 2 });
    expect(job!.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 84 })]);
    expect(await runtime.catalog.listImages({ client: 'host1' })).toHaveLength(1);
  });

  it('gives up after Backup Tries and does not retry what retrying cannot fix', async () => {
    await runtime.config.putSetting('jobRetryDelaySeconds', 0);
    const blocker = join(work, 'blocker');
    writeFileSync(blocker, 'x');
    const source = join(work, 'small');
    makeSampleTree(source, { largeBytes: 10 });
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'dead', kind: 'disk', path: join(blocker, 'unit') }));
    const failing = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'dead' });
    expect(failing.statusCode).toBe(84);
    expect((await runtime.jobs.get(failing.jobId!))?.attempts.map((a) => a.statusCode)).toEqual([84]);
    const missing = await runBackupJob(runtime, { client: 'host1', selections: [join(work, 'nothing')] });
    expect(missing.statusCode).toBe(71);
    expect((await runtime.jobs.get(missing.jobId!))).toMatchObject({ attempt: 1, attempts: [] });
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('ends a job still queued when its window closes with status 196 and releases it', async () => {
    const source = join(work, 'small');
    makeSampleTree(source, { largeBytes: 10 });
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'busy', kind: 'disk', path: join(work, 'busy'), maxConcurrentJobs: 1 }));
    await runtime.media.reserve({ jobId: 999, resources: [{ kind: 'storage-unit-slot', storageUnit: 'busy', maxConcurrentJobs: 1 }], at: new Date() });
    const windowEnd = new Date(Date.now() + 1500).toISOString();
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'busy', windowEnd });
    expect(run.statusCode).toBe(196);
    expect((await runtime.jobs.get(run.jobId!))?.error).toMatch(/still queued when its window closed/);
    expect((await runtime.media.listReservations()).map((r) => r.jobId)).toEqual([999]);
  });

  it('cancels a running job with status 150: the agent stops, nothing is catalogued, the slot is released', async () => {
    // Prepare: the agent's fragment writes never answer (a store on a dead
    // connection), so the job is certainly still running when it is cancelled
    // and only the cancel can end it; if the cancel does not stop the agent,
    // the test times out. `release` lets the hung write go once the test is over.
    const source = join(work, 'big');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    const release = new AbortController();
    let faults: ReturnType<typeof withFaults<ObjectStore>> | undefined;
    const openStore = async (unit: StorageUnit): Promise<ObjectStore> => {
      faults = withFaults(await openStorageUnit(unit)).hang('put', { when: (key) => /fragment-\d+\.tar$/.test(key), signal: release.signal });
      return faults.port;
    };
    let jobId = 0;
    try {
      const running = runBackupJob({ ...runtime, openStorageUnit: openStore, abortGraceMs: 200 }, { client: 'host1', selections: [source] }, { onQueued: (job) => (jobId = job.jobId) });
      // The agent is running and blocked once it has asked for its first fragment write (the index's put comes first).
      while ((faults?.calls('put') ?? 0) < 2) await new Promise((r) => setTimeout(r, 10));
      expect((await runtime.jobs.get(jobId))?.state).toBe('ACTIVE');
      // Act
      const { cancelJob } = await import('#core/jobs/job-service.ts');
      expect(await cancelJob(runtime, jobId, new Date())).toMatchObject({ statusCode: 150 });
      const run = await running;
      // Assess
      expect(run.statusCode).toBe(150);
      expect(await runtime.catalog.listImages()).toEqual([]);
      expect(await runtime.media.listReservations()).toEqual([]);
      const unit = (await runtime.config.getStorageUnit('local-disk'))!;
      expect(await (await openStorageUnit(unit)).list('images/')).toEqual([]);
    } finally {
      release.abort(new Error('test over'));
    }
  });

  it('ends jobs orphaned by a dead process with status 2002 and releases what they held', async () => {
    await runtime.jobs.create(sampleJob(41, { state: 'ACTIVE', owner: 'local:' + (await import('node:os')).hostname() + ':999999999', storageUnit: 'local-disk' }));
    await runtime.media.reserve({ jobId: 41, resources: [{ kind: 'storage-unit-slot', storageUnit: 'local-disk', maxConcurrentJobs: 4 }], at: new Date() });
    await runtime.jobs.create(sampleJob(42, { state: 'ACTIVE', owner: runtime.owner }));
    expect((await runJanitor(runtime)).endedJobs.map((j) => j.jobId)).toEqual([41]);
    expect(await runtime.jobs.get(41)).toMatchObject({ state: 'DONE', statusCode: 2002 });
    expect((await runtime.jobs.get(42))?.state).toBe('ACTIVE');
    expect(await runtime.media.listReservations()).toEqual([]);
  });
});
