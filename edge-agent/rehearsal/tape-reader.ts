import { CairnError } from '#core/errors.ts';
import type { TapeUnit } from '#core/broker/tape-choice.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';
import { tapeFragmentSource } from '../tape/format/tape-fragment-source.ts';
import { TapeCopyDrive, type TapeCopyHolding } from '../duplicate/tape-copy-drive.ts';

export interface RehearsalTapeReader {
  /** The fragments of tape copies on `unit`, decoded as a restore reads them (a compressed fragment decompressed). */
  source(unit: TapeUnit): FragmentSource;
  /** Unloads the drive and frees the reservation, on every path; nothing when no fragment was read. */
  release(succeeded: boolean, failure?: unknown): Promise<void>;
}

/**
 * A rehearsal's tape reads (a restore rehearsal of an image only on tape,
 * in the runtime that holds the robot: the standalone one). On the first
 * fragment a drive of the unit's robot and the fragment's volume are
 * reserved together through the broker's rules, under the rehearsal's job
 * (`holding.holder`), as a tape restore's Reserve does, waiting with the
 * broker's reasons while they are busy, and the volume mounted read only
 * (duplicate/tape-copy-drive.ts `forReading`); a fragment on another volume
 * (a later volume of the image, or an earlier image of the chain) takes the
 * place of the one in the drive (`switchTo`). Each volume's label is checked
 * before its first read and each fragment read from its recorded block,
 * whole or by ranges (`tapeFragmentSource`, as a restore job's Read). One
 * drive for the whole rehearsal: a second tape unit's fragments are refused
 * (219) rather than held on a second drive.
 */
export function rehearsalTapeReader(holding: TapeCopyHolding): RehearsalTapeReader {
  let drive: TapeCopyDrive | undefined;
  let held: TapeUnit | undefined;
  const sources = new Map<string, FragmentSource>();
  return {
    source(unit) {
      let source = sources.get(unit.name);
      if (source) return source;
      source = tapeFragmentSource({
        mount: async (mediaId: string): Promise<TapeDrive> => {
          if (held !== undefined && held.name !== unit.name) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `this rehearsal reads tape unit ${held.name} already: a second tape unit (${unit.name}) would need a second drive, which a rehearsal does not hold`);
          if (drive === undefined) {
            held = unit;
            drive = await TapeCopyDrive.forReading(holding, unit, mediaId);
          } else if (drive.mediaId !== mediaId) await drive.switchTo(mediaId);
          return drive.open();
        },
      });
      sources.set(unit.name, source);
      return source;
    },
    release: async (succeeded, failure) => {
      await drive?.release(succeeded, failure);
    },
  };
}
