import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAwsEmulator } from '../setup/aws-emulator.ts';
import { emulatorJobDeps } from '../setup/emulator-job-deps.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { runBackupJob, type JobEngineDeps } from '#local/job-engine.ts';
import { runDuplicateJob } from '#local/duplicate-engine.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { copyOf, primaryCopy, type Fragment } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { verifyImage } from '#agent/verify/verify-image.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/** A marker no other byte run of the image repeats, so the test finds its file's data in a fragment. */
const MARKER = Buffer.from('cairn-duplicate-marker-'.repeat(600));

async function bytesOf(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The cloud duplicate job: duplicate-job.asl.json and its handlers run
 * in-process with aws-local-stepfunctions (moto's Step Functions cannot
 * invoke Lambda code), every store DynamoDB on the emulator; the Copy step
 * is the agent's real code, copying a disk image to an S3 unit on the
 * emulator through the real SDK, as on a host.
 */
describe.skipIf(Boolean(skip))(`a duplicate job on DynamoDB, disk to S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let deps: JobEngineDeps;
  let bucketStore: S3ObjectStore;
  let diskUnit: StorageUnit;
  const saved = { ...process.env };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-duplicate-aws-'));
    // Tables, bucket and the agent's environment on the emulator (test/setup/emulator-job-deps.ts).
    const emulated = await emulatorJobDeps(emulator.endpoint, 'dup', 'cairn-images-dup');
    deps = emulated.deps;
    diskUnit = StorageUnit.parse({ name: 'disk-unit', kind: 'disk', path: join(work, 'disk'), fragmentSizeBytes: 1024 * 1024 });
    await deps.config.putStorageUnit(diskUnit);
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: 'cairn-images-dup', prefix: 'site2', fragmentSizeBytes: 1024 * 1024 }));
    bucketStore = new S3ObjectStore({ bucket: 'cairn-images-dup', prefix: 'site2', client: emulated.clients.s3, partSizeBytes: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    process.env = saved;
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('ends 2001 naming the object whose byte was flipped (nothing catalogued), then copies the repaired image as copy 2 that reads back byte for byte, and refuses a second copy to that unit', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const backup = await runBackupJob(deps, { client: 'cloudhost', selections: [source], storageUnit: 'disk-unit' });
    expect(backup.error).toBeUndefined();
    expect(backup.statusCode).toBe(0);
    const image = (await deps.catalog.getImage(backup.backupId!))!;
    const disk = await openStorageUnit(diskUnit);

    // One byte of marker.bin's data flipped in the disk fragment that holds it.
    let damaged: { fragment: Fragment; key: string; bytes: Buffer; at: number } | undefined;
    for (const fragment of primaryCopy(image).fragments) {
      if (fragment.location.kind !== 'object') throw new Error('expected an object');
      const bytes = await bytesOf(disk, fragment.location.key);
      const at = bytes.indexOf(MARKER.subarray(0, 200));
      if (at < 0) continue;
      damaged = { fragment, key: fragment.location.key, bytes, at: at + 1000 };
      break;
    }
    expect(damaged).toBeDefined();
    const flipped = Buffer.from(damaged!.bytes);
    flipped[damaged!.at] = flipped[damaged!.at]! ^ 0x04;
    await disk.put(damaged!.key, flipped);

    const corrupt = await runDuplicateJob(deps, { backupId: image.backupId, to: 's3-unit' });
    expect(corrupt.statusCode).toBe(2001);
    expect(corrupt.error).toContain(damaged!.key);
    expect(await deps.jobs.get(corrupt.jobId!)).toMatchObject({ type: 'duplicate', state: 'DONE', statusCode: 2001, image: image.backupId, storageUnit: 's3-unit', fromCopy: 1, fromStorageUnit: 'disk-unit' });
    expect((await deps.catalog.getImage(image.backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);

    // Repaired: the next run writes the copy again and catalogues it.
    await disk.put(damaged!.key, damaged!.bytes);
    const expiresAt = new Date(Date.parse(image.expiresAt) + 86_400_000).toISOString();
    const good = await runDuplicateJob(deps, { backupId: image.backupId, to: 's3-unit', expiresAt, policy: 'p1' });
    expect(good.error).toBeUndefined();
    expect(good.statusCode).toBe(0);
    expect(good.job).toMatchObject({ state: 'DONE', statusCode: 0, copyNumber: 2, expiresAt, policy: 'p1' });
    expect(good.job!.alreadyPresent).toBeUndefined();
    const catalogued = (await deps.catalog.getImage(image.backupId))!;
    expect(catalogued.copies.map((c) => [c.copyNumber, c.storageUnit])).toEqual([[1, 'disk-unit'], [2, 's3-unit']]);
    // The copy outlives the image's own date, so the image does too.
    expect(catalogued.expiresAt).toBe(expiresAt);
    const copy2 = copyOf(catalogued, 2)!;
    for (const fragment of copy2.fragments) {
      if (fragment.location.kind !== 'object') throw new Error('expected an object');
      expect((await bytesOf(bucketStore, fragment.location.key)).equals(await bytesOf(disk, fragment.location.key)), fragment.location.key).toBe(true);
    }
    expect((await bytesOf(bucketStore, copy2.indexKey)).equals(await bytesOf(disk, copy2.indexKey))).toBe(true);
    const readBack = await verifyImage({ store: bucketStore, image: catalogued, copy: copy2 });
    expect(readBack.problemCount).toBe(0);
    expect(readBack.bytes).toBeGreaterThan(MARKER.length);

    // A second run to the same unit is refused at Queue: no job, nothing catalogued.
    const again = await runDuplicateJob(deps, { backupId: image.backupId, to: 's3-unit' });
    expect(again.jobId).toBeUndefined();
    expect(again.statusCode).toBe(20);
    expect(again.error).toContain('already has copy 2 on storage unit s3-unit');
    expect((await deps.catalog.getImage(image.backupId))!.copies).toHaveLength(2);
  });
});
