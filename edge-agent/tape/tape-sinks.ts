import { CairnError } from '#core/errors.ts';
import type { FragmentSink, FragmentSinks } from '#core/ports/fragment-sink.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { TapeTarget } from '#core/model/tape-task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { TapeFragmentSink } from './format/tape-fragment-sink.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';
import { FaultReportingTapeDrive } from './drives/fault-reporting-drive.ts';

/** A backup's tape sinks and the drive they hold open until `close`. */
export interface TapeSinks {
  sinks: FragmentSinks;
  close(): Promise<void>;
}

/**
 * The fragment sinks of a tape backup (bptm): the volume the Mount step put
 * in the reserved drive, opened, its label checked and positioned at the
 * append point when the first fragment comes.
 *
 * At end of media `next` rejects with 96 naming the volume that filled: a
 * backup fits on one volume until spanning (issue 10, item 6) makes `next`
 * ask the workflow for the next volume (reserve, mount) and go on. Release
 * then marks the volume FULL (core/broker/tape-release.ts).
 */
export function tapeSinks(target: TapeTarget, devices: TapeDevices = realTapeDevices): TapeSinks {
  let drive: TapeDrive | undefined;
  const sinks: FragmentSinks = {
    async first(): Promise<FragmentSink> {
      // Its write, read and position errors name the drive and the volume (and where the tape was), for Release to count.
      drive = new FaultReportingTapeDrive(await devices.openDrive(target.drive), { drive: target.drive.name, mediaId: target.volume.mediaId });
      return TapeFragmentSink.mount({ drive, mediaId: target.volume.mediaId, appendFile: target.volume.appendFile });
    },
    async next(full: FragmentSink): Promise<FragmentSink> {
      const mediaId = full instanceof TapeFragmentSink ? full.mediaId : target.volume.mediaId;
      throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${mediaId} in drive ${target.drive.name} reached end of media; spanning to another volume is not built yet, so the image must fit on one volume`);
    },
  };
  return {
    sinks,
    close: async () => {
      await drive?.close();
      drive = undefined;
    },
  };
}
