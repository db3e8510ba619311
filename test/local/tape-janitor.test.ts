import { afterEach, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runJanitor } from '#local/janitor.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { asKind } from '#core/model/job.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { labelArchive } from '#agent/tape/format/volume-label.ts';
import { AT, BLOCK, restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';

const skip = diskChangerSkipReason();
const deadOwner = `local:${hostname()}:999999999`;

/**
 * The standalone janitor and tape: a job whose process died while it held
 * a drive (the moments a real kill cannot aim at: test/cli/killed-tape-backups.long.test.ts
 * kills at random) ends, the drive is unloaded by the in-process agent and
 * recorded empty, and its reservations go.
 */
describe.skipIf(Boolean(skip))(`the janitor and tape drives of dead jobs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let cleanup: (() => Promise<void>) | undefined;
  let source: string;

  async function setUp(): Promise<void> {
    const set = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6' }, unmountDelaySeconds: 180 });
    ({ library, runtime, cleanup } = set);
    source = join(set.work, 'source');
    makeSampleTree(source, { largeBytes: 300_000 });
  }
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('ends a job that died after its image was catalogued with the image status (its tape fragments check out against the media manager), and unloads its drive', async () => {
    await setUp();
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode, run.error).toBe(0);
    // As if the process died between Catalog and EndJob: the job ACTIVE, its drive, volume and slot held, the volume in the drive.
    await runtime.jobs.update(run.jobId!, (job) => ({ ...job, state: 'ACTIVE', statusCode: undefined, endedAt: undefined, owner: deadOwner }));
    await runtime.media.reserve({
      jobId: run.jobId!,
      resources: [
        { kind: 'storage-unit-slot', storageUnit: 'tape1', maxConcurrentJobs: 1 },
        { kind: 'drive', storageUnit: 'tape1', drive: 'd0' },
        { kind: 'volume', pool: 'daily', mediaId: 'CRN001L6' },
      ],
      at: runtime.clock.now(),
    });
    const before = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(await library.changer.loaded(0)).toMatchObject({ full: true, sourceSlot: 1 });

    const report = await runJanitor(runtime);

    expect(report).toMatchObject({ endedJobs: [{ jobId: run.jobId, statusCode: 0 }], withdrawnImages: [], removedClaims: [], problems: [] });
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    expect(await runtime.media.listReservations()).toEqual([]);
    // The volume as the image left it: the mount was counted at its Release, not again.
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ images: before.images, tapeFiles: before.tapeFiles, mountCount: 1 });
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(run.backupId!))!, source, join(library.base, 'restore'));
  });

  it('withdraws a catalogued tape image whose volume does not list it, and ends its job 2002', async () => {
    await setUp();
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode, run.error).toBe(0);
    await runtime.jobs.update(run.jobId!, (job) => ({ ...job, state: 'ACTIVE', statusCode: undefined, endedAt: undefined, owner: deadOwner }));
    await runtime.emm.updateMedia('CRN001L6', (m) => ({ ...m, images: [] }));
    const report = await runJanitor(runtime);
    expect(report.endedJobs).toMatchObject([{ jobId: run.jobId, statusCode: 2002 }]);
    expect(report.withdrawnImages[0]?.reason).toMatch(/volume CRN001L6 does not list image/);
  });

  it('ends a job that died in Mount before the robot moved: 2002, released, nothing unloaded, no mount counted', async () => {
    await setUp();
    const job = await queueBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' }, runtime.clock.now());
    const granted = await reserveResources(runtime, job.jobId, runtime.clock.now());
    expect(granted.granted).toBe(true);
    await runtime.jobs.update(job.jobId, (j) => ({ ...j, owner: deadOwner }));

    const report = await runJanitor(runtime);

    expect(report).toMatchObject({ endedJobs: [{ jobId: job.jobId, statusCode: 2002 }], problems: [] });
    expect(asKind(await runtime.jobs.get(job.jobId), 'backup')?.state).toBe('DONE');
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ mountCount: 0, tapeFiles: 0, images: [] });
  });

  it('labels again a volume whose label a Mount killed while labelling left torn (no filemark), but never a torn label of another volume', async () => {
    await setUp();
    const tornLabel = async (mediaId: string): Promise<void> => {
      const tape = await FileTape.open(join(library.base, 'slot1'), { blockSize: BLOCK });
      await tape.writeRecords(await labelArchive({ formatVersion: 1, mediaId, pool: 'daily', blockSize: BLOCK, writtenAt: AT.toISOString(), writtenBy: 'cairn (killed)' }));
      await tape.close();
    };
    await tornLabel('CRN009L6');
    const refused = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(refused.statusCode).toBe(93);
    expect(refused.error).toMatch(/label of volume CRN009L6 .* is torn/);

    await tornLabel('CRN001L6');
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode, run.error).toBe(0);
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ state: 'ACTIVE', images: [run.backupId] });
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(run.backupId!))!, source, join(library.base, 'restore'));
  });

  it('reports a drive the robot cannot unload, and releases the job anyway (the next Mount unloads what the drive holds first)', async () => {
    await setUp();
    const job = await queueBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' }, runtime.clock.now());
    expect((await reserveResources(runtime, job.jobId, runtime.clock.now())).granted).toBe(true);
    await runtime.jobs.update(job.jobId, (j) => ({ ...j, owner: deadOwner }));
    await library.changer.load(1, 0);
    const report = await runJanitor(runtime, {
      tapeDevices: {
        openDrive: () => Promise.reject(new Error('not used')),
        openChanger: () => ({ description: 'jammed', inventory: () => Promise.reject(new Error('jammed')), loaded: () => Promise.resolve({ full: true, sourceSlot: 1 }), load: () => Promise.reject(new Error('jammed')), unload: () => Promise.reject(new Error('robot arm jammed')), transfer: () => Promise.reject(new Error('jammed')) }) as never,
      },
    });
    expect(report.problems).toEqual([`job ${job.jobId}: its tape drive could not be unloaded: robot arm jammed`]);
    expect(report.endedJobs).toMatchObject([{ jobId: job.jobId, statusCode: 2002 }]);
    expect(await runtime.media.listReservations()).toEqual([]);
    // The next backup's Mount finds the cartridge in the drive and uses it.
    const next = await runBackupJob(runtime, { client: 'host2', selections: [source], storageUnit: 'tape1' });
    expect(next.statusCode, next.error).toBe(0);
  });
});
