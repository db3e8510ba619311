import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
const MARKER = Buffer.from('cairn-s3-rehearsal-marker-'.repeat(600));

/**
 * The cloud wiring of a restore rehearsal: verify-job.asl.json and its
 * handlers run in-process with aws-local-stepfunctions, every store is
 * DynamoDB and the image is in an S3 bucket on the emulator, through the
 * real SDK. The agent's Verify step restores from S3 into its scratch
 * directory with the real restore code, as on a host.
 */
describe.skipIf(Boolean(skip))(`a restore rehearsal on DynamoDB and S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let deps: JobEngineDeps;
  let bucketStore: S3ObjectStore;
  const saved = { ...process.env };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-rehearsal-aws-'));
    // Tables, bucket and the agent's environment on the emulator (test/setup/emulator-job-deps.ts).
    const emulated = await emulatorJobDeps(emulator.endpoint, 'rehearsal', 'cairn-images-rehearsal');
    deps = emulated.deps;
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: 'cairn-images-rehearsal', prefix: 'site1', fragmentSizeBytes: 1024 * 1024 }));
    bucketStore = new S3ObjectStore({ bucket: 'cairn-images-rehearsal', prefix: 'site1', client: emulated.clients.s3, partSizeBytes: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    process.env = saved;
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('rehearses an S3 image (0, the job on DynamoDB, scratch removed), then ends 2001 naming the file whose byte was flipped in S3', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const backup = await runBackupJob(deps, { client: 'cloudhost', selections: [source], storageUnit: 's3-unit' });
    expect(backup.statusCode, backup.error).toBe(0);
    const image = (await deps.catalog.getImage(backup.backupId!))!;
    const scratch = join(work, 'scratch');

    const clean = await runVerifyJob(deps, { backupId: image.backupId, rehearsal: { sample: 4, scratch } });
    expect(clean.statusCode, clean.error).toBe(0);
    const job = await deps.jobs.get(clean.jobId!);
    expect(job).toMatchObject({ type: 'verify', state: 'DONE', statusCode: 0, image: image.backupId, storageUnit: 's3-unit', problemCount: 0, rehearsal: { sample: 4, scratch, sampleSize: 4, filesChecked: 4, scratchDeleted: true, restoredFrom: [image.backupId] } });
    expect(readdirSync(scratch)).toEqual([]);

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

    const damaged = await runVerifyJob(deps, { backupId: image.backupId, rehearsal: { sample: 'all', scratch } });
    expect(damaged.statusCode).toBe(2001);
    expect(damaged.error).toContain(join(source, 'marker.bin'));
    const ended = await deps.jobs.get(damaged.jobId!);
    expect(ended).toMatchObject({ state: 'DONE', statusCode: 2001, rehearsal: { sample: 'all', scratchDeleted: true } });
    expect(existsSync((ended as { rehearsal: { scratchPath: string } }).rehearsal.scratchPath)).toBe(false);
    expect(readdirSync(scratch)).toEqual([]);
  });
});
