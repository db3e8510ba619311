import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { tapeLibraryRuntime } from '../local/tape-library-runtime.ts';
import { diskChangerSkipReason } from '../edge-agent/tape/disk-changer-library.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { runCairn, spawnCairn } from './cli-process.ts';

const skip = diskChangerSkipReason();

/**
 * `cairn jobs cancel` of a running lifecycle job, both real processes: a
 * `cairn duplicate` to a tape unit whose one drive another job holds
 * waits for it (the broker's back-off set to a minute); cancelled from a
 * second process, it stops within seconds (the wait is cut short), its job
 * ends 150 naming who cancelled, nothing is catalogued and it holds
 * nothing; once the drive is free, a duplicate makes the copy.
 */
describe.skipIf(Boolean(skip))(`cairn jobs cancel of a running duplicate${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('stops the duplicate in its process, ends its job 150, catalogues nothing, and a later duplicate makes the copy', async () => {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6' }, drives: 1, unmountDelaySeconds: 0 });
    let runtime: LocalRuntime = made.runtime;
    cleanup = made.cleanup;
    const source = join(made.work, 'source');
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(64 * 1024));
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(made.work, 'disk1') }));
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    const backupId = run.backupId!;
    // The one drive, held by a job of this (living) process; a wait would sleep a minute between two asks.
    await runtime.config.putSetting('resourceRetrySeconds', 60);
    const holderId = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleJob(holderId, { state: 'ACTIVE', storageUnit: 'tape1', owner: runtime.owner }));
    expect((await runtime.media.reserve({ jobId: holderId, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd0' }], at: runtime.clock.now() })).granted).toBe(true);

    const { exited } = spawnCairn(made.home, ['duplicate', '--backup-id', backupId, '--to', 'tape1', '--json']);
    const deadline = Date.now() + 60_000;
    let jobId: number | undefined;
    while (jobId === undefined && Date.now() < deadline) {
      jobId = (await runtime.jobs.list({ state: 'ACTIVE', limit: 10 })).find((j) => j.type === 'duplicate')?.jobId;
      if (jobId === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(jobId, 'the duplicate job never became ACTIVE').toBeDefined();
    // Past its first ask: it sleeps the back-off now.
    await new Promise((r) => setTimeout(r, 1000));

    const cancel = await runCairn(made.home, ['jobs', 'cancel', String(jobId), '--json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    const cancelledAt = Date.now();
    const end = await exited;
    const stoppedWithin = Date.now() - cancelledAt;
    expect(stoppedWithin).toBeLessThan(15_000);
    expect(end.code).toBe(2);

    const job = (await runtime.jobs.get(jobId!))!;
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(job.error).toMatch(/^cancelled by an administrator \(.+@.+, cairn jobs cancel\)$/);
    expect((await runtime.catalog.getImage(backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);
    // Only the holder's drive is held: the duplicate held nothing when it ended.
    expect(await runtime.media.listReservations()).toMatchObject([{ jobId: holderId, kind: 'drive' }]);

    await runtime.media.release(holderId);
    runtime.close();
    const again = await runCairn(made.home, ['duplicate', '--backup-id', backupId, '--to', 'tape1', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ backupId, copyNumber: 2, storageUnit: 'tape1' });
    runtime = await openLocalRuntime({ home: made.home });
    cleanup = async () => {
      runtime.close();
      await made.library.cleanup();
    };
    expect((await runtime.catalog.getImage(backupId))!.copies.map((c) => c.copyNumber)).toEqual([1, 2]);
    expect(await runtime.media.listReservations()).toEqual([]);
  }, 180_000);
});
