import { CairnError } from '#core/errors.ts';
import type { FragmentLocation } from '#core/model/image.ts';
import type { FragmentSink, FragmentSinks, WrittenFragment } from '#core/ports/fragment-sink.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { TapeTarget } from '#core/model/tape-task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { TapeFragmentSink } from './format/tape-fragment-sink.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';
import type { FullVolume, NextVolumes } from './spanning/next-volumes.ts';
import type { BufferSettings } from '#core/model/task.ts';
import { tapeWriteRoom } from './early-warning.ts';
import { DEFAULT_PIECE_BYTES } from '#core/model/storage-unit.ts';
import { FaultReportingTapeDrive } from './drives/fault-reporting-drive.ts';

/** A backup's tape sinks and the drive they hold open until `close`. */
export interface TapeSinks {
  sinks: FragmentSinks;
  /** Every volume written to so far, in order (the first once the first fragment started). */
  readonly volumes: readonly string[];
  /**
   * The volume written to last when it is past its early-warning mark (the
   * drive reported it during a write, or the volume was past it when
   * positioned at its append point); undefined otherwise. Read once the
   * backup finished: its result reports it (`fullVolume`) for the Catalog
   * step to record the volume FULL.
   */
  readonly pastEarlyWarning: string | undefined;
  close(): Promise<void>;
}

/**
 * The fragment sinks of a tape backup (bptm): the volume the Mount step put
 * in the reserved drive, opened, its label checked and positioned at the
 * append point when the first fragment comes.
 *
 * Spanning: at end of media the fragment writer has closed the fragment
 * (its filemark is written) and asks `next`. The drive is closed (the
 * Mount of the next volume unloads this one), `volumes.next` reports the
 * full volume (what this backup wrote on it) and waits until the workflow
 * reserved and mounted the next volume in the same drive; that volume is
 * opened, its label checked and positioned at its append point, and the
 * next fragment goes there. Without `volumes` (a caller that cannot span)
 * `next` rejects with 96 naming the volume that filled.
 *
 * A first volume found past its early-warning mark when positioned at its
 * append point is reported full at once, with nothing written on it (the
 * Mount step does not refuse it: see edge-agent/tape/README.md).
 *
 * Each volume is opened with the write size and (file tapes) the early
 * warning that leave room for what the backup's `buffers` and a member of
 * up to `memberBytes` (the unit's piece size) may still bring when the
 * mark is reported (early-warning.ts).
 */
export function tapeSinks(
  target: TapeTarget,
  devices: TapeDevices = realTapeDevices,
  volumes?: NextVolumes,
  room: { buffers: BufferSettings; memberBytes: number } = { buffers: { count: 16, sizeBytes: 256 * 1024 }, memberBytes: DEFAULT_PIECE_BYTES },
): TapeSinks {
  let drive: TapeDrive | undefined;
  let driveName = target.drive.name;
  const used: string[] = [];
  let current: CountingSink | undefined;
  const open = async (next: TapeTarget): Promise<FragmentSink> => {
    const writeRoom = tapeWriteRoom(next.drive, room.buffers, room.memberBytes);
    // Its write, read and position errors name the drive and the volume (and where the tape was), for Release to count.
    drive = new FaultReportingTapeDrive(await devices.openDrive(writeRoom.earlyWarningBytes === undefined ? next.drive : { ...next.drive, earlyWarningBytes: writeRoom.earlyWarningBytes }), {
      drive: next.drive.name,
      mediaId: next.volume.mediaId,
    });
    driveName = next.drive.name;
    const sink = await TapeFragmentSink.mount({ drive, mediaId: next.volume.mediaId, appendFile: next.volume.appendFile, writeBytes: writeRoom.writeBytes });
    used.push(next.volume.mediaId);
    current = new CountingSink(sink);
    return current;
  };
  const sinks: FragmentSinks = {
    async first(): Promise<FragmentSink> {
      let sink = await open(target);
      // A volume already past its early-warning mark at its append point (a backup ended past it and its volume was
      // not recorded FULL: an older agent's result) gets nothing more: it is reported full before anything is written
      // on it, and the broker records it FULL and gives the next volume, as at end of media. A caller that cannot
      // span writes on it (the room past the mark holds what a fragment may still bring).
      while (sink.endOfMedia && volumes !== undefined) sink = await sinks.next(sink);
      return sink;
    },
    async next(full: FragmentSink): Promise<FragmentSink> {
      const report: FullVolume =
        full instanceof CountingSink
          ? { mediaId: full.sink.mediaId, drive: driveName, fragments: full.fragments, bytes: full.bytes, appendFile: full.sink.appendFile }
          : { mediaId: target.volume.mediaId, drive: driveName, fragments: 0, bytes: 0, appendFile: target.volume.appendFile };
      if (volumes === undefined) {
        throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${report.mediaId} in drive ${driveName} reached end of media, and this backup cannot ask for another volume`);
      }
      // The next volume's Mount unloads this one: let go of the drive first.
      await drive?.close();
      drive = undefined;
      return open(await volumes.next(report));
    },
  };
  return {
    sinks,
    volumes: used,
    get pastEarlyWarning() {
      return current?.endOfMedia ? current.sink.mediaId : undefined;
    },
    close: async () => {
      await drive?.close();
      drive = undefined;
    },
  };
}

/** A volume's sink, counting the fragments and bytes this backup wrote on it (for the volume-full report). */
class CountingSink implements FragmentSink {
  readonly sink: TapeFragmentSink;
  fragments = 0;
  bytes = 0;

  constructor(sink: TapeFragmentSink) {
    this.sink = sink;
  }

  get endOfMedia(): boolean {
    return this.sink.endOfMedia;
  }

  async write(number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment> {
    const written = await this.sink.write(number, body);
    this.fragments += 1;
    this.bytes += written.bytes;
    return written;
  }

  discard(location: FragmentLocation): Promise<void> {
    return this.sink.discard(location);
  }
}
