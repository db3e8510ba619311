import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { drivesIdlePastDelay, holdIdleDrive, type IdleDrive } from '#core/media/idle-drives.ts';
import { unloadTask } from '#core/broker/tape-held.ts';
import type { TapeUnit } from '#core/broker/tape-choice.ts';
import { runUnmount, realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import type { LocalRuntime } from './runtime.ts';

export interface IdleUnloadReport {
  /** Drives whose volume went back to its slot. */
  unloaded: IdleDrive[];
  /** What could not be done this time (tried again at the next tick). */
  problems: string[];
}

/**
 * The standalone runtime's media unmount delay (ltid): on each scheduler
 * tick, every drive kept loaded longer than its unit's
 * `mediaUnmountDelaySeconds` with no job (core/media/idle-drives.ts
 * decides, with `now`) is unloaded by the in-process agent's Unmount code
 * and recorded empty.
 *
 * A job may take the drive between the decision and the robot's move (the
 * broker prefers a drive holding a volume of the pool): so the drive and
 * its volume are first reserved, under a fresh job id that no job will
 * ever have (`JobStore.nextJobId`), and the decision is taken again on the
 * fresh drive record; a job that got there first keeps the drive. The
 * reservation is released at the end, whatever happened. Caveat: a janitor
 * in another process releases reservations of job ids with no job record
 * (`releaseStranded`); should it run during the second or so of the move, a
 * job could be granted the drive meanwhile, and its Stream step would then
 * fail (84) and the job retry. In AWS this runs on the robot's agent
 * through SSM: pending (see edge-agent/tape/README.md).
 */
export async function unloadIdleDrives(runtime: Pick<LocalRuntime, 'config' | 'jobs' | 'media' | 'emm'>, now: Date, devices: TapeDevices = realTapeDevices): Promise<IdleUnloadReport> {
  const report: IdleUnloadReport = { unloaded: [], problems: [] };
  const drives = await runtime.emm.listDrives();
  if (!drives.some((d) => d.loaded)) return report;
  const [units, media, reservations] = await Promise.all([runtime.config.listStorageUnits(), runtime.emm.listMedia(), runtime.media.listReservations()]);
  const heldDrives = new Set(reservations.flatMap((r) => (r.kind === 'drive' ? [r.drive] : [])));
  for (const idle of drivesIdlePastDelay({ drives, units, media, heldDrives, now })) {
    try {
      if (await unloadOne(runtime, idle, units.filter((u): u is TapeUnit => u.kind === 'tape'), now, devices)) report.unloaded.push(idle);
    } catch (error) {
      report.problems.push(`drive ${idle.drive}: volume ${idle.mediaId} could not be unloaded: ${messageOf(error)}`);
    }
  }
  return report;
}

/** Reserves the drive and its volume, decides again on the fresh record, unloads, records, releases. False when a job took the drive first. */
async function unloadOne(runtime: Pick<LocalRuntime, 'config' | 'jobs' | 'media' | 'emm'>, idle: IdleDrive, units: TapeUnit[], now: Date, devices: TapeDevices): Promise<boolean> {
  const unit = units.find((u) => u.name === idle.storageUnit) ?? units.find((u) => u.robot === idle.robot);
  const media = await runtime.emm.getMedia(idle.mediaId);
  const robot = await runtime.emm.getRobot(idle.robot);
  if (!unit || !robot || !media || media.slot === undefined) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `no tape unit of robot ${idle.robot}, or volume ${idle.mediaId} has no home slot there: unload it by hand (cairn robot inventory afterwards)`);
  const held = await holdIdleDrive(runtime, { idle, unitName: unit.name, robot: robot.name, media, units }, now);
  if (!held) return false;
  const { holder, drives, drive } = held;
  try {
    await runUnmount(unloadTask(holder, unit, { robot, drives, drive, media }), devices);
    await runtime.emm.setDriveLoaded(drive.name, undefined, now);
    return true;
  } finally {
    await runtime.media.release(holder);
  }
}
