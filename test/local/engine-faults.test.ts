import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackupJob, type JobEngineDeps } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { memoryStores, type MemoryStores } from '#test/memory/memory-stores.ts';
import { withFaults } from '#test/support/faults.ts';
import { asKind } from '#core/model/job.ts';

/**
 * The real backup-job.asl.json in-process on the in-memory stores, with
 * faults injected into the job store and the catalog (test/support/faults.ts).
 * The agent writes to a disk storage unit in a temp directory.
 */
describe('a backup job when a store fails under it', () => {
  let work: string;
  let stores: MemoryStores;
  let source: string;
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-engine-faults-'));
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 256 * 1024 });
    stores = memoryStores();
    await stores.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1') }));
    await stores.config.putSetting('jobRetryDelaySeconds', 0);
    await stores.config.putSetting('backupTries', { tries: 2, withinHours: 12 });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** The engine on the stores, with a clock that moves a second a call so each attempt gets its own backup id. */
  const engine = (overrides: Partial<JobEngineDeps> = {}): JobEngineDeps => {
    let at = Date.parse('2026-11-23T02:00:00Z');
    return { ...stores, clock: { now: () => new Date((at += 1000)) }, ...overrides };
  };

  it('runs the job again when committing its image fails once, and ends with one image and nothing held', async () => {
    // Prepare
    const catalog = withFaults(stores.catalog).failOn('putImage', 1, new Error('catalog unavailable'));
    // Act
    const run = await runBackupJob(engine({ catalog: catalog.port }), { client: 'host1', selections: [source], storageUnit: 'disk1' });
    // Assess
    expect(run.statusCode).toBe(0);
    const job = asKind(await stores.jobs.get(run.jobId!), 'backup');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, attempt: 2, attempts: [{ attempt: 1, statusCode: 2000 }] });
    expect((await stores.catalog.listImages()).map((i) => i.backupId)).toEqual([run.backupId]);
    expect(await stores.media.listReservations()).toEqual([]);
    expect(catalog.calls('putImage')).toBe(2);
  });

  it('leaves no image of an attempt whose job record could not be updated after the commit', async () => {
    // Prepare: the first job update after the image is committed fails.
    const catalog = withFaults(stores.catalog);
    const jobs = withFaults(stores.jobs).failOn('update', 1, new Error('job database unavailable'), () => catalog.calls('putImage') === 1);
    // Act
    const run = await runBackupJob(engine({ catalog: catalog.port, jobs: jobs.port }), { client: 'host1', selections: [source], storageUnit: 'disk1' });
    // Assess: the failed attempt's image is not listed; the retried one is the job's only image.
    expect(run.statusCode).toBe(0);
    const job = asKind(await stores.jobs.get(run.jobId!), 'backup');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, attempt: 2 });
    const images = await stores.catalog.listImages();
    expect(images.map((i) => i.backupId)).toEqual([job!.backupId]);
    expect(job!.attempts![0]!.backupId).not.toBe(job!.backupId);
    // Attempt 1's data is still owned by its claim until the janitor removes it.
    expect((await stores.catalog.listClaims()).map((c) => c.backupId)).toEqual([job!.attempts![0]!.backupId]);
  });

  it('ends the job once the end-of-job update succeeds on its step retry', async () => {
    const jobs = withFaults(stores.jobs).failOn('update', 1, new Error('job database unavailable'), (_id, change) => change(sampleActive()).state === 'DONE');
    const run = await runBackupJob(engine({ jobs: jobs.port }), { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    expect(await stores.jobs.get(run.jobId!)).toMatchObject({ state: 'DONE', statusCode: 0, attempt: 1 });
    expect(await stores.media.listReservations()).toEqual([]);
  }, 15_000);
});

/** A job to probe what an update's change does, without touching the store. */
function sampleActive(): Parameters<Parameters<MemoryStores['jobs']['update']>[1]>[0] {
  return {
    jobId: 1, type: 'backup', state: 'ACTIVE', attempt: 1, policy: 'manual', client: 'host1', schedule: 'user', level: 'full', storageUnit: 'disk1',
    selections: ['/'], exclude: [], retentionDays: 14, progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    unreadable: [], attempts: [], queuedAt: '2026-11-23T02:00:00.000Z', updatedAt: '2026-11-23T02:00:00.000Z',
  };
}
