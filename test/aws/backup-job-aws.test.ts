import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAwsEmulator } from '../setup/aws-emulator.ts';
import { emulatorJobDeps } from '../setup/emulator-job-deps.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { runBackupJob, type JobEngineDeps } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { imageKeys } from '#core/ids.ts';
import { reconcile } from '#core/jobs/janitor.ts';
import { objectStoreStaging } from '#agent/transport/staging-area.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * The cloud wiring of the same workflow: the ASL and handlers run in-process
 * (moto cannot run Lambda code), but every store is DynamoDB and the storage
 * unit is an S3 bucket, all on the emulator through the real SDK.
 */
describe.skipIf(Boolean(skip))(`a backup job on DynamoDB and S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let deps: JobEngineDeps;
  let bucketStore: S3ObjectStore;
  const saved = { ...process.env };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-aws-e2e-'));
    // Tables, bucket and the agent's environment on the emulator (test/setup/emulator-job-deps.ts).
    ({ deps } = await emulatorJobDeps(emulator.endpoint, 'e2e', 'cairn-images-e2e'));
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: 'cairn-images-e2e', prefix: 'site1', fragmentSizeBytes: 1024 * 1024 }));
    // Restore streams the index while it reads fragments: it needs more than the
    // one connection the emulator's DynamoDB clients are limited to.
    // 5 MiB parts (S3's smallest), so the 9 MiB a dead agent leaves below make a multipart upload.
    bucketStore = new S3ObjectStore({ bucket: 'cairn-images-e2e', prefix: 'site1', partSizeBytes: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    process.env = saved;
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('writes the image to S3, catalogs it in DynamoDB, and restores it byte for byte', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
    const run = await runBackupJob(deps, { client: 'cloudhost', selections: [source], storageUnit: 's3-unit' });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    const image = await deps.catalog.getImage(run.backupId!);
    expect(image?.copies[0]!.fragments.length).toBeGreaterThan(1);
    expect(await deps.media.listReservations()).toEqual([]);
    expect(await deps.jobs.get(run.jobId!)).toMatchObject({ state: 'DONE', statusCode: 0 });
    const target = join(work, 'restore');
    const restored = await restoreImage({ store: bucketStore, image: image!, targetDir: target });
    expect(restored.refused).toEqual([]);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
  });

  it('removes an image a dead agent was staging in S3, its unfinished multipart upload included, and ends its job 2002', async () => {
    // Prepare: a job whose runner is gone, holding its claim, with one complete
    // fragment and a multipart upload of the next one left open.
    const backupId = 'deadhost_1795400000';
    const now = new Date();
    await deps.jobs.create({ ...(await import('../contracts/fixtures.ts')).sampleJob(await deps.jobs.nextJobId(), { state: 'ACTIVE', client: 'deadhost', storageUnit: 's3-unit', backupId, owner: 'gone' }) });
    const [job] = await deps.jobs.list({ limit: 1 });
    await deps.media.reserve({ jobId: job!.jobId, resources: [{ kind: 'storage-unit-slot', storageUnit: 's3-unit', maxConcurrentJobs: 4 }], at: now });
    expect(await deps.catalog.claimBackupId({ backupId, jobId: job!.jobId, client: 'deadhost', storageUnit: 's3-unit', claimedAt: now.toISOString() })).toBe(true);
    await bucketStore.put(imageKeys(backupId).fragment(1), Buffer.alloc(2048, 7));
    let kill: (error: Error) => void = () => undefined;
    const killed = new Promise<never>((_, reject) => (kill = reject));
    // Handled from the start: the put may still be sending its first part when the agent is killed (see the object-store contract).
    killed.catch(() => undefined);
    const stalled = bucketStore.put(imageKeys(backupId).fragment(2), (async function* () {
      yield Buffer.alloc(9 * 1024 * 1024, 8);
      await killed;
    })()).catch(() => undefined);
    for (let i = 0; i < 200 && (await bucketStore.listIncomplete(`${imageKeys(backupId).prefix}/`)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));

    // Act: the janitor, with this job taken for orphaned.
    const report = await reconcile({ ...deps, staging: objectStoreStaging(async () => bucketStore), isOrphaned: (j) => j.owner === 'gone' }, new Date());

    // Assess
    kill(new Error('agent killed'));
    await stalled;
    expect(report.endedJobs).toEqual([expect.objectContaining({ jobId: job!.jobId, statusCode: 2002 })]);
    expect(report.removedClaims).toEqual([expect.objectContaining({ backupId, objects: 1, incomplete: 1 })]);
    expect(await bucketStore.list(`${imageKeys(backupId).prefix}/`)).toEqual([]);
    expect(await bucketStore.listIncomplete('images/')).toEqual([]);
    expect(await deps.catalog.listClaims()).toEqual([]);
    expect(await deps.media.listReservations()).toEqual([]);
  });
});
