import type { TapeUnit } from '#core/broker/tape-choice.ts';
import type { Fragment } from '#core/model/image.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { tapeFragmentSource } from '../tape/format/tape-fragment-source.ts';
import { TapeCopyDrive, type TapeCopyHolding } from './tape-copy-drive.ts';

export interface TapeCopyReader {
  /** A tape fragment's stored bytes (compressed, for an encoded fragment), read whole from its recorded block. */
  read(fragment: Fragment): Promise<AsyncIterable<Uint8Array>>;
  /** Reserves a drive and mounts `mediaId` now, before any read (a copy from tape to tape holds its source volume before the writer chooses its volumes). */
  hold(mediaId: string): Promise<void>;
  /** Unloads and releases the drive, on every path; nothing when no fragment was read. */
  release(succeeded: boolean, failure?: unknown): Promise<void>;
}

/**
 * Reads a copy on tape for a duplicate to disk or S3 (bpduplicate from
 * tape): on the first fragment a drive of the unit's robot and the
 * fragment's volume are reserved together and the volume mounted read
 * only (tape-copy-drive.ts, waiting with the broker's reasons while they
 * are busy); each later volume takes the place of the one read, in the
 * same drive (`switchTo`: one `exchangeVolume`, the robot swaps them). The
 * label is checked before the first read of each volume and every
 * fragment is read from its recorded block (`tapeFragmentSource`, as a
 * restore job's Read). Fragments come in copy order, so each volume is
 * mounted once.
 */
export function tapeCopyReader(holding: TapeCopyHolding, unit: TapeUnit): TapeCopyReader {
  let drive: TapeCopyDrive | undefined;
  const mount = async (mediaId: string): Promise<TapeDrive> => {
    if (drive === undefined) drive = await TapeCopyDrive.forReading(holding, unit, mediaId);
    else await drive.switchTo(mediaId);
    return drive.open();
  };
  const source = tapeFragmentSource({ mount });
  return {
    hold: async (mediaId) => {
      await mount(mediaId);
    },
    // Without its encoding the source yields the stored bytes as they are, which the copy keeps.
    read: (fragment) => source.read({ ...fragment, encoding: undefined }),
    release: async (succeeded, failure) => {
      await drive?.release(succeeded, failure);
    },
  };
}
