import type { BufferSettings } from '#core/model/task.ts';
import type { TapeDriveAccess } from '#core/model/tape-task.ts';
import { WRITE_BYTES } from './format/tape-fragment-sink.ts';

/**
 * What a tape backup may still have to write on a volume after the drive
 * reported early warning, and so the room the early-warning zone must
 * hold. The sink learns of the mark when a write returns, and the fragment
 * writer closes the fragment at the next member boundary; by then, past
 * the mark, come: the rest of that write and the sink's other write buffer
 * (2 × its write size), every data buffer of the pool (count × size: bytes
 * tar-stream produced for this fragment), tar-stream's own queue and the
 * end-of-archive blocks (TAR_SLACK), the padded last record, and the rest
 * of the member being written: at most `memberBytes`, the unit's
 * `pieceBytes` (a bigger file is written as pieces of that size: Pieces in
 * docs/image-format.md), plus its headers (TAR_SLACK covers them).
 */
export const TAR_SLACK = 64 * 1024;

export interface TapeWriteRoom {
  /** The sink's bytes per drive write. */
  writeBytes: number;
  /** File tapes: the early-warning zone to open the volume with; undefined on a drive whose mark is physical (st). */
  earlyWarningBytes?: number;
}

/**
 * The write size and early warning for a backup on `drive` with `buffers`.
 *
 * A real drive's early-warning zone is the drive's (LTO's holds far more
 * than this): nothing to choose, 1 MiB writes. A file tape's zone is ours
 * to set: its default (a tenth of the capacity, at most 64 MiB), widened to
 * the room above, but never past half the volume. On a small volume (a few
 * MiB) the writes shrink first (a 32nd of the capacity, at least a record),
 * so the room stays a fraction of it, and the unit's `pieceBytes` must be
 * small too (1 MiB at least); a volume too small even then fills past its
 * mark, and its write fails with 84 at the end, as on a real tape.
 */
export function tapeWriteRoom(drive: TapeDriveAccess, buffers: BufferSettings, memberBytes: number): TapeWriteRoom {
  const capacity = drive.fileTapeCapacityBytes;
  if (capacity === undefined || drive.path.startsWith('/dev/')) return { writeBytes: WRITE_BYTES };
  const block = drive.blockSize;
  const writeBytes = Math.max(block, Math.min(WRITE_BYTES, Math.floor(capacity / 32 / block) * block));
  const room = 2 * writeBytes + buffers.count * buffers.sizeBytes + TAR_SLACK + block + memberBytes;
  const byDefault = Math.max(block, Math.min(64 * 1024 * 1024, Math.floor(capacity / 10)));
  return { writeBytes, earlyWarningBytes: Math.min(Math.floor(capacity / 2), Math.max(byDefault, room)) };
}
