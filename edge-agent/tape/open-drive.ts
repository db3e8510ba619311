import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { TapeDriveAccess } from '#core/model/tape-task.ts';
import { FileTape } from './drives/file-tape.ts';
import { StTape } from './drives/st-tape.ts';

/** A Linux st drive's non-rewinding device; any other path is a file tape. */
export function isStDevice(path: string): boolean {
  return /^\/dev\/nst\d+$/.test(path);
}

/**
 * Opens the drive the broker reserved (its media manager record, as the
 * grant copied it): `/dev/nstN` as a Linux st drive, any other path as a
 * file tape through that path (for disk-changer, the `driveN` link the
 * script points at the loaded slot's file), with the robot's file-tape
 * capacity as its end of media and the early warning the access names.
 */
export async function openTapeDrive(drive: TapeDriveAccess): Promise<TapeDrive> {
  if (isStDevice(drive.path)) return StTape.open(drive.path, { blockSize: drive.blockSize });
  return FileTape.open(drive.path, {
    blockSize: drive.blockSize,
    ...(drive.fileTapeCapacityBytes === undefined ? {} : { capacityBytes: drive.fileTapeCapacityBytes }),
    ...(drive.earlyWarningBytes === undefined ? {} : { earlyWarningBytes: drive.earlyWarningBytes }),
  });
}
