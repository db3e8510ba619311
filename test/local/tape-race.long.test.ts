import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob, type BackupRun } from '#local/job-engine.ts';
import { unloadIdleDrives } from '#local/idle-drive-unload.ts';
import { patterned } from '../edge-agent/helpers.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';
import { TapeDeviceObserver } from './tape-device-observer.ts';

const skip = diskChangerSkipReason();
const JOBS = 50;
/** Jobs whose window closes early: they end 96 if they are still waiting for media by then. */
const SHORT_WINDOW = 10;
const VOLUMES = { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6', 4: 'CRN004L6' };

/**
 * 50 backup jobs at once through the real backup-job.asl.json (in process,
 * SQLite, the broker, Mount / Stream / Unmount on the in-process agent)
 * racing for 2 drives and 4 volumes of Debian's disk-changer (file tapes).
 * An observer wrapping the job engine's tape devices records which job has
 * which drive and volume open at each moment and every robot move.
 */
describe.skipIf(Boolean(skip))(`${JOBS} tape jobs racing for 2 drives and 4 volumes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let cleanup: () => Promise<void>;
  let source: string;

  beforeAll(async () => {
    const set = await tapeLibraryRuntime({ drives: 2, slots: 6, barcodes: VOLUMES });
    ({ library, runtime, cleanup } = set);
    source = join(set.work, 'source');
    mkdirSync(source);
    for (let i = 0; i < 3; i++) writeFileSync(join(source, `f${i}`), patterned(20_000 + i * 7_000, i));
  });
  afterAll(async () => cleanup?.());

  it('has an observer that sees two jobs on one drive, one volume in two drives, and a robot move in a drive in use', async () => {
    const observer = new TapeDeviceObserver();
    const robot = (await runtime.emm.getRobot('lib1'))!;
    const drives = await runtime.emm.listDrives('lib1');
    const access = (i: number) => ({ name: drives[i]!.name, index: i, path: drives[i]!.path, blockSize: drives[i]!.blockSize });
    const changer = observer.openChanger({ name: robot.name, changer: robot.changer, drives: drives.map((d) => ({ index: d.index, path: d.path })) });
    await observer.run('job A', () => changer.load(1, 0));
    const a = await observer.run('job A', () => observer.openDrive(access(0)));
    const b = await observer.run('job B', () => observer.openDrive(access(0)));
    await observer.run('job C', () => changer.load(1, 1).catch(() => undefined));
    await observer.run('job C', () => changer.unload('source', 0).catch(() => undefined));
    expect(observer.violations).toEqual([
      'job B opens drive d0 while job A has it open',
      'job C loads slot 1 into drive 1 while it is in drive 0',
      'job C unloads drive 0 while job A has it open',
    ]);
    await a.close();
    await b.close();
    expect(observer.openNow).toEqual([]);
    await library.changer.unload('source', 0).catch(() => undefined);
    await library.changer.unload('source', 1).catch(() => undefined);
    expect([(await library.changer.loaded(0)).full, (await library.changer.loaded(1)).full]).toEqual([false, false]);
  });

  it('never puts two jobs on one drive or one volume in two drives; every job ends 0 or 96; nothing is left held, loaded or open; DONE images restore', async () => {
    const observer = new TapeDeviceObserver();
    const started = Date.now();
    const windowEnd = new Date(started + 6_000).toISOString();
    const runs: { client: string; run: BackupRun }[] = await Promise.all(
      Array.from({ length: JOBS }, async (_, i) => {
        // Started 60 ms apart: all are running within 3 s, and their Reserve retries (which back off with the time
        // waited) do not all land on the same instants, which would leave a freed drive idle until the next burst.
        await new Promise((resolve) => setTimeout(resolve, i * 60));
        const client = `racer${String(i + 1).padStart(2, '0')}`;
        // Two retentions: a volume takes images of one retention only, so jobs of the other need another volume, and
        // volumes move between slots and drives while the jobs race.
        const request = { client, selections: [source], storageUnit: 'tape1', retentionDays: i % 3 === 0 ? 30 : 14, ...(i % (JOBS / SHORT_WINDOW) === 0 ? { windowEnd } : {}) };
        return { client, run: await observer.run(client, () => runBackupJob({ ...runtime, tapeDevices: observer }, request)) };
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    // Never two jobs on one drive, never one volume in two drives, no robot move in a drive in use.
    expect(observer.violations).toEqual([]);
    expect(observer.openNow).toEqual([]);
    const drivesUsed = new Set(observer.uses.map((u) => u.drive));
    expect(drivesUsed.size).toBe(2);
    for (const use of observer.uses) expect(use.to, `${use.job}: ${use.drive} closed`).toBeDefined();

    // Every job ends 0, or 96 when its window closed while it waited for media; with a clear reason.
    const statuses = new Map<number, number>();
    for (const { client, run } of runs) {
      statuses.set(run.statusCode, (statuses.get(run.statusCode) ?? 0) + 1);
      if (run.statusCode === 0) continue;
      expect(run.statusCode, `${client}: ${run.error ?? ''}`).toBe(96);
      expect(run.error, client).toMatch(/window|waiting/);
    }
    const done = runs.filter((r) => r.run.statusCode === 0);
    expect(done.length).toBeGreaterThanOrEqual(JOBS - SHORT_WINDOW);
    for (const job of await runtime.jobs.list({ limit: 1000 })) expect(job.state, `job ${job.jobId}`).toBe('DONE');

    // Nothing leaks: no reservation, no claim; every catalogued image is on the volumes and they agree.
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await runtime.catalog.listClaims()).toEqual([]);
    const images = await runtime.catalog.listImages();
    expect(images.map((i) => i.backupId).sort()).toEqual(done.map((r) => r.run.backupId).sort());
    const media = await runtime.emm.listMedia({ pool: 'daily' });
    expect(media.flatMap((m) => m.images).sort()).toEqual(images.map((i) => i.backupId).sort());
    for (const volume of media) {
      const fragments = images.flatMap((i) => i.copies[0]!.fragments).filter((f) => f.location.kind === 'tape' && f.location.mediaId === volume.mediaId);
      expect(volume.tapeFiles, volume.mediaId).toBe(1 + fragments.length);
    }

    // Drives kept loaded for the unmount delay hold what the media manager says; past it the tick's unload empties them.
    for (const drive of await runtime.emm.listDrives('lib1')) {
      const inDrive = await library.changer.loaded(drive.index);
      const slot = drive.loaded ? (await runtime.emm.getMedia(drive.loaded.mediaId))!.slot : undefined;
      expect(inDrive.full ? inDrive.sourceSlot : undefined, drive.name).toBe(slot);
    }
    // A sample of the images, byte for byte (the restore mounts each volume in a free drive).
    for (const { run } of done.filter((_, i) => i % 16 === 0)) {
      const image = (await runtime.catalog.getImage(run.backupId!))!;
      await observer.run(`restore ${run.backupId}`, () => restoreAndCompare(runtime, image, source, join(library.base, 'restore', run.backupId!), { devices: observer }));
    }
    const unloads = await unloadIdleDrives(runtime, new Date(Date.now() + 3_600_000), observer);
    expect(unloads.problems).toEqual([]);
    for (const drive of await runtime.emm.listDrives('lib1')) {
      expect(drive.loaded, drive.name).toBeUndefined();
      expect(await library.changer.loaded(drive.index), drive.name).toMatchObject({ full: false });
    }
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(observer.violations).toEqual([]);
    expect(observer.openNow).toEqual([]);
    console.log(`${JOBS} jobs in ${seconds.toFixed(1)} s: ${[...statuses].map(([code, n]) => `${n} × status ${code}`).join(', ')}; ${observer.uses.length} drive opens, ${observer.moves.length} robot moves; volumes: ${media.map((m) => `${m.mediaId} ${m.images.length} images`).join(', ')}`);
  }, 120_000);
});
