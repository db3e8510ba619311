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
 * end-of-archive blocks (TAR_SLACK, and one LARGEST_CHUNK it took whole), the padded last record, and the rest
 * of the member being written: at most `memberBytes`, the unit's
 * `pieceBytes` (a bigger file is written as pieces of that size: Pieces in
 * docs/image-format.md), plus its headers (TAR_SLACK covers them).
 */
export const TAR_SLACK = 64 * 1024;

/**
 * The biggest chunk the backup path hands tar-stream in one write (reads of
 * large files and of pieces are 1 MiB: image-writer's MAX_READ_BYTES, the
 * reader thread's slots). tar-stream takes a chunk whole, so one of them may
 * sit in its queue past the mark besides TAR_SLACK: measured on 8 MiB file
 * tapes with 1 MiB pieces and 8 × 64 KiB buffers, 1.6-1.7 MiB were produced
 * and not yet on tape when the mark came, which the room without this chunk
 * (1.1 MiB besides the piece) did not cover, and the volume hit its end (84)
 * (test/local/tape-image-over-three-volumes.test.ts).
 */
export const LARGEST_CHUNK = 1024 * 1024;

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
  const room = 2 * writeBytes + buffers.count * buffers.sizeBytes + TAR_SLACK + LARGEST_CHUNK + block + memberBytes;
  const byDefault = Math.max(block, Math.min(64 * 1024 * 1024, Math.floor(capacity / 10)));
  return { writeBytes, earlyWarningBytes: Math.min(Math.floor(capacity / 2), Math.max(byDefault, room)) };
}
