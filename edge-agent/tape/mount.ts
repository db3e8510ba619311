import type { Changer } from '#core/ports/changer.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { MountResult, MountTask, TapeDriveAccess, TapeRobotAccess, UnmountResult, UnmountTask } from '#core/model/tape-task.ts';
import { openChanger } from './open-changer.ts';
import { isStDevice, openTapeDrive } from './open-drive.ts';
import { readLabel, VolumeLabelError, writeLabel } from './format/volume-label.ts';
import { TapeFragmentSink } from './format/tape-fragment-sink.ts';
import { FaultReportingTapeDrive } from './drives/fault-reporting-drive.ts';

/** How the agent reaches a robot and a drive: the real adapters by default; tests may wrap them. */
export interface TapeDevices {
  openChanger(robot: TapeRobotAccess): Changer;
  openDrive(drive: TapeDriveAccess): Promise<TapeDrive>;
}

export const realTapeDevices: TapeDevices = {
  openChanger: (robot) => openChanger(robot, robot.drives),
  openDrive: openTapeDrive,
};

/**
 * The Mount step on the agent (ltid + tldcd + bptm's label check):
 *
 * 1. The robot: when the changer says the drive holds the cartridge of the
 *    volume's slot already, nothing moves (a drive kept loaded by the unmount
 *    delay). Otherwise whatever the drive holds goes back to its source slot
 *    and the volume's slot is loaded. The changer, not the media manager's
 *    record, says what is in the drive.
 * 2. The label: a volume the broker says was never written (`label`) gets
 *    its label if the tape is blank; one that already carries its own label
 *    (a Mount of an earlier attempt wrote it) is used as it is. Any other
 *    tape (another volume's label, another program's data, a torn label)
 *    is refused with 93 and never overwritten. A written volume's label is
 *    checked (93 on the wrong tape).
 * 3. Positioning at the append point (`TapeFragmentSink.mount`): 84 when the
 *    volume has fewer complete tape files than the media manager says.
 *
 * A tape error on the way (reading the label, writing it, positioning)
 * carries the drive and the volume (`FaultReportingTapeDrive`), so Release
 * counts it against both.
 *
 * The drive is closed again: the Stream step opens it itself (in AWS it is
 * another process), checks the label once more and writes at the append point.
 */
export async function runMount(task: MountTask, devices: TapeDevices = realTapeDevices, now: () => Date = () => new Date()): Promise<MountResult> {
  const { drive: driveAccess, volume } = task;
  const changer = devices.openChanger(task.robot);
  const inDrive = await changer.loaded(driveAccess.index);
  let moved = false;
  if (!(inDrive.full && inDrive.sourceSlot === volume.slot)) {
    if (inDrive.full) await unloadDrive(changer, devices, driveAccess, inDrive.sourceSlot);
    await changer.load(volume.slot, driveAccess.index);
    moved = true;
  }
  // A read, write or position error while labelling or positioning names the drive and the volume, for the media manager's counts.
  const drive = new FaultReportingTapeDrive(await devices.openDrive(driveAccess), { drive: driveAccess.name, mediaId: volume.mediaId });
  let labelled = false;
  try {
    if (volume.label) labelled = await labelIfBlank(drive, volume.mediaId, volume.pool, now());
    await TapeFragmentSink.mount({ drive, mediaId: volume.mediaId, appendFile: volume.appendFile });
  } finally {
    await drive.close();
  }
  return { mediaId: volume.mediaId, drive: driveAccess.name, moved, labelled, appendFile: volume.appendFile };
}

/**
 * Labels a blank tape as `mediaId`; true when it wrote the label. A tape
 * already labelled `mediaId` is left as it is (the check follows). So is
 * any other tape, except one whose label names `mediaId` but is torn (no
 * filemark after it: a Mount killed while labelling): the broker says the
 * volume was never written, so that half label is all there is, and it is
 * written again rather than leaving the volume refused (93) for good.
 */
async function labelIfBlank(drive: TapeDrive, mediaId: string, pool: string, at: Date): Promise<boolean> {
  try {
    await readLabel(drive);
    return false;
  } catch (error) {
    // A drive error reading the label is that error (counted by the media manager), not a tape to refuse.
    if (!(error instanceof VolumeLabelError)) throw error;
    const tornOwnLabel = error.problem === 'corrupt' && error.found?.mediaId === mediaId;
    if (error.problem !== 'blank' && !tornOwnLabel) return false; // the label check that follows names what it found (93)
  }
  await writeLabel(drive, { mediaId, pool, writtenAt: at.toISOString(), writtenBy: 'cairn' });
  return true;
}

/**
 * The Unmount step on the agent: with `keepLoaded`, a drive holding the
 * job's volume keeps it (no robot move; the media manager records it
 * loaded). Otherwise, or when the drive holds something else, the tape is
 * ejected (st: `mt offline`, which rewinds first) and the robot puts it
 * back in its source slot. An empty drive is left alone: the step is
 * idempotent, and runs after a Mount that failed before loading anything.
 */
export async function runUnmount(task: UnmountTask, devices: TapeDevices = realTapeDevices): Promise<UnmountResult> {
  const changer = devices.openChanger(task.robot);
  const inDrive = await changer.loaded(task.drive.index);
  if (!inDrive.full) return { drive: task.drive.name, unloaded: false };
  if (task.keepLoaded && inDrive.sourceSlot === task.slot) return { drive: task.drive.name, unloaded: false };
  await unloadDrive(changer, devices, task.drive, inDrive.sourceSlot ?? task.slot);
  return { drive: task.drive.name, unloaded: true };
}

/** Ejects (st) and unloads the drive to `slot`, or to its source slot when the changer knows it. */
async function unloadDrive(changer: Changer, devices: TapeDevices, drive: TapeDriveAccess, slot: number | undefined): Promise<void> {
  if (isStDevice(drive.path)) {
    // A library takes a cartridge out of an st drive only once the drive let go of it (rewound and unloaded).
    const st = await devices.openDrive(drive);
    try {
      await st.eject();
    } finally {
      await st.close();
    }
  }
  await changer.unload(slot ?? 'source', drive.index);
}
