import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import type { IdleUnloadReport } from '#local/idle-drive-unload.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import type { DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { diskChangerSkipReason } from '../edge-agent/tape/disk-changer-library.ts';
import { AT, restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';

const skip = diskChangerSkipReason();

/** The real changer and drives, counting the robot's moves. */
function countingDevices(): TapeDevices & { loads: number; unloads: number } {
  const devices = {
    loads: 0,
    unloads: 0,
    openDrive: realTapeDevices.openDrive,
    openChanger: (robot: Parameters<TapeDevices['openChanger']>[0]) => {
      const changer = realTapeDevices.openChanger(robot);
      return {
        ...changer,
        description: changer.description,
        inventory: () => changer.inventory(),
        loaded: (drive: number) => changer.loaded(drive),
        load: async (slot: number, drive: number) => {
          devices.loads += 1;
          await changer.load(slot, drive);
        },
        unload: async (slot: number | 'source', drive: number) => {
          devices.unloads += 1;
          await changer.unload(slot, drive);
        },
        transfer: (from: number, to: number) => changer.transfer(from, to),
      };
    },
  };
  return devices;
}

/**
 * The media unmount delay in the standalone runtime: a drive kept loaded
 * after a job serves the next job of the pool with no robot move, and the
 * scheduler tick unloads it once the delay passed with no job. Time is a
 * fake clock; the library is Debian's disk-changer with file tapes.
 */
describe.skipIf(Boolean(skip))(`idle tape drives unloaded by the scheduler tick${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let cleanup: (() => Promise<void>) | undefined;
  let source: string;
  const clock = new FakeClock(AT);

  async function setUp(unmountDelaySeconds: number): Promise<void> {
    clock.set(AT);
    const set = await tapeLibraryRuntime({ drives: 2, barcodes: { 1: 'CRN001L6', 2: 'CRN002L6' }, unmountDelaySeconds, clock });
    ({ library, runtime, cleanup } = set);
    source = join(set.work, 'source');
    makeSampleTree(source, { largeBytes: 300_000 });
  }
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  const backup = (devices: TapeDevices, client: string) => runBackupJob({ ...runtime, tapeDevices: devices }, { client, selections: [source], storageUnit: 'tape1' });

  it('keeps the drive loaded through its delay (the next job of the pool needs no robot move), then the tick unloads it and records it empty', async () => {
    await setUp(180);
    const devices = countingDevices();
    const reports: IdleUnloadReport[] = [];
    const scheduler = localScheduler(runtime, { tapeDevices: devices, onIdleUnload: (report) => reports.push(report) });

    const first = await backup(devices, 'host1');
    expect(first.statusCode, first.error).toBe(0);
    expect(await library.changer.loaded(0)).toMatchObject({ full: true, sourceSlot: 1 });
    // Within the delay the tick leaves it alone, and the next job finds the volume there.
    clock.advance(179_000);
    await scheduler.tick();
    expect(reports).toEqual([]);
    const second = await backup(devices, 'host2');
    expect(second.statusCode, second.error).toBe(0);
    expect([devices.loads, devices.unloads]).toEqual([1, 0]);
    // The delay counts from the last job: 179 s after it, still loaded.
    clock.advance(179_000);
    await scheduler.tick();
    expect(reports).toEqual([]);
    expect((await runtime.emm.getDrive('d0'))?.loaded?.mediaId).toBe('CRN001L6');

    clock.advance(1_000);
    await scheduler.tick();
    expect(reports).toEqual([{ unloaded: [{ drive: 'd0', robot: 'lib1', mediaId: 'CRN001L6', storageUnit: 'tape1', delaySeconds: 180, idleSeconds: 180 }], problems: [] }]);
    expect([devices.loads, devices.unloads]).toEqual([1, 1]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    expect(await runtime.media.listReservations()).toEqual([]);
    // Nothing more to do on the next tick; the volume is back in its slot and still restores.
    clock.advance(600_000);
    await scheduler.tick();
    expect(reports).toHaveLength(1);
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(second.backupId!))!, source, join(library.base, 'restore'));
  });

  it('leaves a drive a job holds, even past the delay', async () => {
    await setUp(60);
    const devices = countingDevices();
    const run = await backup(devices, 'host1');
    expect(run.statusCode, run.error).toBe(0);
    // A job (here a restore's reservation) holds the drive when the delay ends.
    await runtime.media.reserve({ jobId: 4242, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'd0' }], at: clock.now() });
    clock.advance(3_600_000);
    const reports: IdleUnloadReport[] = [];
    const scheduler = localScheduler(runtime, { tapeDevices: devices, onIdleUnload: (report) => reports.push(report) });
    await scheduler.tick();
    expect(reports).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: true, sourceSlot: 1 });
    await runtime.media.release(4242);
    await scheduler.tick();
    expect(reports.flatMap((r) => r.unloaded.map((d) => d.drive))).toEqual(['d0']);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
  });

  it('reports an unload the robot refuses, and tries again at the next tick', async () => {
    await setUp(0);
    const devices = countingDevices();
    // Recorded loaded (as a Release that kept it would leave it) while the robot's unload fails once.
    const run = await backup(devices, 'host1');
    expect(run.statusCode, run.error).toBe(0);
    await runtime.emm.setDriveLoaded('d0', 'CRN001L6', clock.now());
    await library.changer.load(1, 0);
    let failures = 1;
    const flaky: TapeDevices = {
      openDrive: devices.openDrive,
      openChanger: (robot) => {
        const changer = devices.openChanger(robot);
        return { ...changer, description: changer.description, inventory: () => changer.inventory(), loaded: (d) => changer.loaded(d), load: (s, d) => changer.load(s, d), transfer: (a, b) => changer.transfer(a, b), unload: async (s, d) => (failures-- > 0 ? Promise.reject(new Error('robot arm jammed')) : changer.unload(s, d)) };
      },
    };
    const reports: IdleUnloadReport[] = [];
    const scheduler = localScheduler(runtime, { tapeDevices: flaky, onIdleUnload: (report) => reports.push(report) });
    await scheduler.tick();
    expect(reports[0]?.problems).toEqual(['drive d0: volume CRN001L6 could not be unloaded: robot arm jammed']);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect((await runtime.emm.getDrive('d0'))?.loaded?.mediaId).toBe('CRN001L6');
    await scheduler.tick();
    expect(reports[1]).toMatchObject({ unloaded: [{ drive: 'd0', mediaId: 'CRN001L6', delaySeconds: 0 }], problems: [] });
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
  });
});
