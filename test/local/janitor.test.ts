import { keyOf } from '../edge-agent/forge.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '#core/ports/clock.ts';
import { CLAIM_GRACE_SECONDS } from '#core/jobs/janitor.ts';
import { cancelJob } from '#core/jobs/job-service.ts';
import { commitImage } from '#core/catalog/catalog-service.ts';
import { finishJob } from '#core/jobs/job-service.ts';
import { imageKeys } from '#core/ids.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Image } from '#core/model/image.ts';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runJanitor } from '#local/janitor.ts';
import { isOrphanOwner, localOwner } from '#local/orphans.ts';
import { processStartTime } from '#agent/snapshot/process-identity.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { recordingReporter } from '../edge-agent/helpers.ts';
import { asKind } from '#core/model/job.ts';

const deadOwner = `local:${hostname()}:999999999`;

/** Every file under the storage unit, partial ones included, relative to it. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const relative = rel ? `${rel}/${name}` : name;
      if (statSync(path).isDirectory()) visit(path, relative);
      else out.push(relative);
    }
  };
  visit(root, '');
  return out;
}

describe('who runs a job', () => {
  it('takes a job for orphaned when its process is gone, or its pid now belongs to another program', () => {
    const self = localOwner();
    const other = `local:${hostname()}:${process.ppid}:${processStartTime(process.ppid)}`;
    expect(isOrphanOwner(other, self)).toBe(false);
    expect(isOrphanOwner(`local:${hostname()}:${process.ppid}`, self)).toBe(false);
    expect(isOrphanOwner(`local:${hostname()}:${process.ppid}:1`, self)).toBe(true);
    expect(isOrphanOwner(deadOwner, self)).toBe(true);
    expect(isOrphanOwner(`local:another-host:${process.ppid}:1`, self)).toBe(false);
    expect(isOrphanOwner('aws', self)).toBe(false);
  });
});

describe('the janitor: jobs, catalog and storage agree after a crash', () => {
  let work: string;
  let runtime: LocalRuntime;
  let clock: FakeClock;
  let storage: string;
  let source: string;

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-janitor-'));
    clock = new FakeClock(new Date());
    runtime = await openLocalRuntime({ home: join(work, 'home'), clock });
    storage = join(work, 'home', 'storage', 'local-disk');
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 200_000 });
  });
  afterEach(() => {
    runtime.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** A job a dead process was running: ACTIVE, holding a slot and the claim on its backup id. */
  async function stoppedJob(jobId: number, backupId: string, owner = deadOwner): Promise<void> {
    await runtime.jobs.create(sampleJob(jobId, { state: 'ACTIVE', owner, client: 'host1', storageUnit: 'local-disk', backupId, startedAt: clock.now().toISOString() }));
    await runtime.media.reserve({ jobId, resources: [{ kind: 'storage-unit-slot', storageUnit: 'local-disk', maxConcurrentJobs: 4 }], at: clock.now() });
    expect(await runtime.catalog.claimBackupId({ backupId, jobId, client: 'host1', storageUnit: 'local-disk', claimedAt: clock.now().toISOString() })).toBe(true);
  }

  it('ends a job killed mid-stream with 2002 and removes its fragments and partial file', async () => {
    // Prepare: one complete fragment and the partial file of the next, as a kill leaves them.
    const backupId = 'host1_1795400000';
    await stoppedJob(41, backupId);
    const store = new FsObjectStore(storage);
    await store.put(imageKeys(backupId).fragment(1), Buffer.alloc(5000, 1));
    writeFileSync(join(storage, `${imageKeys(backupId).fragment(2)}.cairn-partial-0123456789abcdef`), Buffer.alloc(3000, 2));

    // Act
    const report = await runJanitor(runtime);

    // Assess
    expect(report.endedJobs).toEqual([{ jobId: 41, statusCode: 2002, reason: expect.stringMatching(/stopped while the job was ACTIVE/) }]);
    expect(report.removedClaims).toEqual([expect.objectContaining({ backupId, objects: 1, incomplete: 1, bytes: 8000 })]);
    expect(filesUnder(storage)).toEqual([]);
    expect(await runtime.catalog.listClaims()).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await runtime.jobs.get(41)).toMatchObject({ state: 'DONE', statusCode: 2002 });
  });

  it('releases the slot a job that ended still holds (its Release step failed for good), and leaves a running job’s', async () => {
    const slot = { kind: 'storage-unit-slot' as const, storageUnit: 'local-disk', maxConcurrentJobs: 4 };
    await runtime.jobs.create(sampleJob(61, { state: 'DONE', statusCode: 0, owner: runtime.owner }));
    await runtime.jobs.create(sampleJob(62, { state: 'ACTIVE', owner: runtime.owner }));
    for (const jobId of [61, 62]) await runtime.media.reserve({ jobId, resources: [slot], at: clock.now() });

    const report = await runJanitor(runtime);

    expect(report.releasedReservations).toEqual([61]);
    expect((await runtime.media.listReservations()).map((r) => r.jobId)).toEqual([62]);
    expect(await runtime.jobs.get(61)).toMatchObject({ state: 'DONE', statusCode: 0 });
  });

  it('ends a job killed after its image was catalogued with the image status, keeping the image', async () => {
    // Prepare: a real job, then its record put back to how a kill before EndJob leaves it.
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source] });
    expect(run.statusCode).toBe(0);
    await runtime.jobs.update(run.jobId!, (j) => ({ ...j, state: 'ACTIVE', statusCode: undefined, statusText: undefined, endedAt: undefined, owner: deadOwner }));
    const before = filesUnder(storage);

    // Act
    const report = await runJanitor(runtime);

    // Assess
    expect(report.endedJobs).toEqual([{ jobId: run.jobId, statusCode: 0, reason: expect.stringMatching(/after its image .* was catalogued; the image checks out/) }]);
    expect(report.removedClaims).toEqual([]);
    expect(await runtime.catalog.getImage(run.backupId!)).toMatchObject({ jobId: run.jobId });
    expect(filesUnder(storage)).toEqual(before);
  });

  it('withdraws and removes the catalogued image of a killed job when a fragment is missing, ending it 2002', async () => {
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source] });
    const image = (await runtime.catalog.getImage(run.backupId!))!;
    await runtime.jobs.update(run.jobId!, (j) => ({ ...j, state: 'ACTIVE', statusCode: undefined, statusText: undefined, endedAt: undefined, owner: deadOwner }));
    rmSync(join(storage, keyOf(image.copies[0]!.fragments[0]!)));

    const report = await runJanitor(runtime);

    expect(report.endedJobs).toEqual([{ jobId: run.jobId, statusCode: 2002, reason: expect.stringMatching(/fragment 1 .* is missing.*withdrawn/) }]);
    expect(report.withdrawnImages.map((w) => w.backupId)).toEqual([image.backupId]);
    expect(await runtime.catalog.getImage(image.backupId)).toBeUndefined();
    expect(filesUnder(storage)).toEqual([]);
    expect(await runtime.catalog.listClaims()).toEqual([]);
  });

  it('leaves a running job\'s staged image alone, and an ended job\'s until the grace period is over', async () => {
    await stoppedJob(51, 'host1_1795400001', runtime.owner);
    await stoppedJob(52, 'host1_1795400002', runtime.owner);
    const store = new FsObjectStore(storage);
    await store.put(imageKeys('host1_1795400001').fragment(1), Buffer.alloc(100));
    await store.put(imageKeys('host1_1795400002').fragment(1), Buffer.alloc(100));
    await finishJob(runtime.jobs, 52, { failure: { Error: 'Status84', Cause: 'media write error' } }, clock.now());

    expect((await runJanitor(runtime)).removedClaims).toEqual([]);
    clock.advance((CLAIM_GRACE_SECONDS - 1) * 1000);
    expect((await runJanitor(runtime)).removedClaims).toEqual([]);
    clock.advance(2000);
    const report = await runJanitor(runtime);

    expect(report.removedClaims).toEqual([expect.objectContaining({ backupId: 'host1_1795400002', jobId: 52, reason: 'job 52 ended with status 84' })]);
    expect(filesUnder(storage)).toEqual([imageKeys('host1_1795400001').fragment(1)]);
    expect((await runtime.catalog.listClaims()).map((c) => c.jobId)).toEqual([51]);
  });

  it('withdraws an image whose job was cancelled while the image was committed', async () => {
    // Prepare: a granted job whose agent wrote a complete image.
    await stoppedJob(61, 'host1_1795400003', runtime.owner);
    const job = asKind(await runtime.jobs.get(61), 'backup')!;
    const unit = (await runtime.config.getStorageUnit('local-disk'))!;
    const result = await runBackup(
      { jobId: 61, backupId: job.backupId!, client: 'host1', policy: job.policy, schedule: job.schedule, level: 'full', selections: [source], exclude: [], storageUnit: unit, buffers: { count: 4, sizeBytes: 65536 } },
      { store: new FsObjectStore(storage), reporter: recordingReporter(), now: () => clock.now() },
    );
    // The administrator's cancel lands between the Catalog step's job check and its commit.
    const putImage = async (image: Image): Promise<void> => {
      await cancelJob(runtime, 61, clock.now());
      await runtime.catalog.putImage(image);
    };
    const racing = new Proxy(runtime.catalog, {
      get: (target, name: keyof CatalogStore) => (name === 'putImage' ? putImage : target[name].bind(target)),
    }) as CatalogStore;

    // Act
    const commit = commitImage({ jobs: runtime.jobs, catalog: racing }, 61, result, clock.now());

    // Assess
    await expect(commit).rejects.toMatchObject({ statusCode: 150, message: expect.stringMatching(/withdrawn/) });
    expect(await runtime.catalog.getImage(job.backupId!)).toBeUndefined();
    expect(await runtime.jobs.get(61)).toMatchObject({ state: 'DONE', statusCode: 150 });
    clock.advance(CLAIM_GRACE_SECONDS * 1000);
    expect((await runJanitor(runtime)).removedClaims.map((c) => c.backupId)).toEqual([job.backupId]);
    expect(filesUnder(storage)).toEqual([]);
  });

  it('withdraws the image of a job cancelled after its Catalog step, before it ended', async () => {
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source] });
    await runtime.jobs.update(run.jobId!, (j) => ({ ...j, state: 'ACTIVE', statusCode: undefined, endedAt: undefined }));

    await cancelJob(runtime, run.jobId!, clock.now());

    expect(await runtime.catalog.getImage(run.backupId!)).toBeUndefined();
    expect((await runtime.catalog.listClaims()).map((c) => c.backupId)).toEqual([run.backupId]);
  });
});
