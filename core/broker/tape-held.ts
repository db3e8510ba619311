import type { ConfigStore } from '../ports/config-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { UnmountTask } from '../model/tape-task.ts';
import { SCRATCH_POOL, type Drive, type Media, type Robot } from '../model/tape-media.ts';
import { tapeGrant, type TapeUnit } from './tape-choice.ts';

/**
 * The Unmount a job's tape drive needs when the job's own Unmount step
 * will never run (its process died: the janitor ends it), rebuilt from what
 * it holds: its drive and volume reservations and the media manager's
 * records of them, as the broker built them for its grant (`tapeGrant`'s
 * `afterFailure`: always unload, the drive's state after a dead writer is
 * not known). Undefined when the job holds no tape drive, or the records
 * it names are gone (a removed robot, drive or volume: nothing to unload
 * through the media manager then).
 */
export async function unmountOfHeldDrive(deps: { media: Pick<MediaStore, 'listReservations'>; emm: MediaDatabase; config: ConfigStore }, jobId: number): Promise<UnmountTask | undefined> {
  const held = (await deps.media.listReservations()).filter((r) => r.jobId === jobId);
  const driveHeld = held.find((r) => r.kind === 'drive');
  const volumeHeld = held.find((r) => r.kind === 'volume');
  if (!driveHeld || !volumeHeld) return undefined;
  const unit = await deps.config.getStorageUnit(driveHeld.storageUnit);
  if (unit?.kind !== 'tape') return undefined;
  const robot = await deps.emm.getRobot(unit.robot);
  const drives = robot ? await deps.emm.listDrives(robot.name) : [];
  const drive = drives.find((d) => d.name === driveHeld.drive);
  const media = await deps.emm.getMedia(volumeHeld.mediaId);
  if (!robot || !drive || media?.slot === undefined) return undefined;
  return unloadTask(jobId, unit, { robot, drives, drive, media });
}

/** The Unmount that takes `media` out of `drive` back to its slot, whatever the unit's delay (tapeGrant's `afterFailure`). */
export function unloadTask(holder: number, unit: TapeUnit, records: { robot: Robot; drives: Drive[]; drive: Drive; media: Media }): UnmountTask {
  const { media } = records;
  const plan = { ...records, fromScratch: media.pool === SCRATCH_POOL && unit.pool !== SCRATCH_POOL, reason: `job ${holder} holds drive ${records.drive.name} and volume ${media.mediaId}` };
  return tapeGrant(holder, unit, plan).afterFailure.task;
}

/** The drive and volume a dead job held, as the cloud janitor recorded them (`recordDriveOfDeadJob`). */
export interface DriveLeftLoaded {
  drive: string;
  mediaId: string;
}

/**
 * What the cloud janitor records for a tape job whose execution ended
 * without its Unmount step (stopped, timed out, failed outside its
 * Catch), before its reservations are released: the drive it held may
 * hold its volume (the robot may have loaded it; nothing tells the janitor
 * whether it did), so the media manager records the drive as holding that
 * volume, last used now. The drive is never recorded empty here: nobody
 * has unloaded it.
 *
 * The standalone janitor unloads such a drive at once, in process
 * (local/tape-orphan-unload.ts). In AWS the robot is moved only by its
 * agent through SSM, which the janitor (an EventBridge-invoked Lambda)
 * does not wait for: the scheduler's idle unload (core/media/idle-unload.ts)
 * sends the unload once the unit's `mediaUnmountDelaySeconds` passed, and
 * records the drive empty only once the agent said it unloaded it. A job of
 * the volume's pool may take the drive first: its Mount asks the changer
 * what the drive holds and never trusts this record, and the volume's
 * label is checked before anything is written or read.
 *
 * Undefined when the job holds no drive and volume, or the media manager
 * no longer knows them (nothing to record then).
 */
export async function recordDriveOfDeadJob(
  deps: { media: Pick<MediaStore, 'listReservations'>; emm: Pick<MediaDatabase, 'getDrive' | 'getMedia' | 'setDriveLoaded'> },
  jobId: number,
  now: Date,
): Promise<DriveLeftLoaded | undefined> {
  const held = (await deps.media.listReservations()).filter((r) => r.jobId === jobId);
  const driveHeld = held.find((r) => r.kind === 'drive');
  const volumeHeld = held.find((r) => r.kind === 'volume');
  if (driveHeld?.kind !== 'drive' || volumeHeld?.kind !== 'volume') return undefined;
  const [drive, media] = await Promise.all([deps.emm.getDrive(driveHeld.drive), deps.emm.getMedia(volumeHeld.mediaId)]);
  if (!drive || !media) return undefined;
  await deps.emm.setDriveLoaded(drive.name, media.mediaId, now);
  return { drive: drive.name, mediaId: media.mediaId };
}
