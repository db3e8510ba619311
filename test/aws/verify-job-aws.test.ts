import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAwsEmulator } from '../setup/aws-emulator.ts';
import { emulatorJobDeps } from '../setup/emulator-job-deps.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { runBackupJob, type JobEngineDeps } from '#local/job-engine.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { primaryCopy } from '#core/model/image.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/** A marker no other byte run of the image repeats, so the test finds its file's data in a fragment. */
const MARKER = Buffer.from('cairn-s3-verify-marker-'.repeat(600));

/**
 * The cloud wiring of the verify job: verify-job.asl.json and its handlers
 * run in-process with aws-local-stepfunctions (moto's Step Functions cannot
 * invoke Lambda code), every store is DynamoDB and the image is in an S3
 * bucket, all on the emulator through the real SDK. The agent's Verify step
 * reads the image from S3 as on a host.
 */
describe.skipIf(Boolean(skip))(`a verify job on DynamoDB and S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let deps: JobEngineDeps;
  let bucketStore: S3ObjectStore;
  const saved = { ...process.env };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-verify-aws-'));
    // Tables, bucket and the agent's environment on the emulator (test/setup/emulator-job-deps.ts).
    const emulated = await emulatorJobDeps(emulator.endpoint, 'verify', 'cairn-images-verify');
    deps = emulated.deps;
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: 'cairn-images-verify', prefix: 'site1', fragmentSizeBytes: 1024 * 1024 }));
    bucketStore = new S3ObjectStore({ bucket: 'cairn-images-verify', prefix: 'site1', client: emulated.clients.s3, partSizeBytes: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    process.env = saved;
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('verifies a clean S3 image (0, the job on DynamoDB), then ends 2001 naming the member whose byte was flipped in S3', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const backup = await runBackupJob(deps, { client: 'cloudhost', selections: [source], storageUnit: 's3-unit' });
    expect(backup.error).toBeUndefined();
    expect(backup.statusCode).toBe(0);
    const image = (await deps.catalog.getImage(backup.backupId!))!;

    const clean = await runVerifyJob(deps, { backupId: image.backupId });
    expect(clean.error).toBeUndefined();
    expect(clean.statusCode).toBe(0);
    expect(await deps.jobs.get(clean.jobId!)).toMatchObject({ type: 'verify', state: 'DONE', statusCode: 0, image: image.backupId, storageUnit: 's3-unit', problemCount: 0 });

    // One byte of marker.bin's data, in whichever fragment holds it.
    let flipped = false;
    for (const fragment of primaryCopy(image).fragments) {
      if (fragment.location.kind !== 'object') throw new Error('expected an S3 object');
      const chunks: Uint8Array[] = [];
      for await (const chunk of await bucketStore.get(fragment.location.key)) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      const at = bytes.indexOf(MARKER.subarray(0, 200));
      if (at < 0) continue;
      bytes[at + 1000] = bytes[at + 1000]! ^ 0x04;
      await bucketStore.put(fragment.location.key, bytes);
      flipped = true;
      break;
    }
    expect(flipped).toBe(true);

    const damaged = await runVerifyJob(deps, { backupId: image.backupId });
    expect(damaged.statusCode).toBe(2001);
    expect(damaged.error).toContain(`${join(source, 'marker.bin')} (fragment`);
    expect(await deps.jobs.get(damaged.jobId!)).toMatchObject({ state: 'DONE', statusCode: 2001, problemCount: 1 });
  });
});
