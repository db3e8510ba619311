import { CairnError } from '#core/errors.ts';
import { fragmentLabel, type Fragment } from '#core/model/image.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';
import { decodingFragmentSource } from '../../codec/zstd-fragment-source.ts';
import { checkMountedVolume } from './volume-label.ts';

/** Bytes per chunk the source yields (whole records, at least one): large reads for the restore's parser, bounded memory. */
export const READ_BYTES = 1024 * 1024;

/**
 * How the source gets a drive holding a volume: the restore job's Mount
 * (reserve a drive, have the robot load the volume). `mount` resolves with
 * a drive in which `mediaId` is loaded; it is called before every fragment
 * is read, so it should return the drive at once when the volume is
 * already in it.
 */
export interface TapeVolumes {
  mount(mediaId: string): Promise<TapeDrive>;
}

/**
 * Reads fragments from tape (bptm on restore): a fragment is its tape file,
 * read from its recorded logical block (`seekBlock`, SCSI LOCATE: no
 * spacing over the files before it), trimmed to its `bytes` (the padding of
 * its last record is not part of it).
 *
 * - Whole: the records up to `bytes`, then the filemark, which must follow:
 *   a tape file that ends early (a filemark or end of data before `bytes`)
 *   or goes on past its last record is not the fragment the catalog
 *   describes (2001, naming it). The restore checks bytes and checksum.
 * - Range [start, end): seeks to `blockOffset + ⌊start / blockSize⌋` and
 *   reads only the records holding the range, so a single-file restore
 *   reads its member's records and nothing else.
 * - Compressed fragments (a unit with zstd) are decoded by
 *   `decodingFragmentSource` around this reader: its ranges are then of
 *   the stored bytes, which is what this reads.
 *
 * The label is checked (`checkMountedVolume`: rewind and read file 0) the
 * first time a drive is handed out for a volume, and again whenever `mount`
 * hands out a drive that last held another volume: the check before the
 * first read of a mount, as a restore job's Mount makes it, and never a
 * rewind between the fragments of one volume. A location of another kind is
 * refused with 219 naming it.
 */
export function tapeFragmentSource(volumes: TapeVolumes, options: { readBytes?: number } = {}): FragmentSource {
  const checked = new WeakMap<TapeDrive, string>();
  const driveFor = async (mediaId: string): Promise<TapeDrive> => {
    const drive = await volumes.mount(mediaId);
    if (checked.get(drive) !== mediaId) {
      checked.delete(drive);
      await checkMountedVolume(drive, mediaId);
      checked.set(drive, mediaId);
    }
    return drive;
  };
  return decodingFragmentSource(async (fragment, range) => {
    const { location } = fragment;
    if (location.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `${fragmentLabel(fragment)} is not on tape; this source reads tape volumes only`);
    const drive = await driveFor(location.mediaId);
    const blockSize = drive.blockSize;
    const readBytes = Math.max(blockSize, Math.floor((options.readBytes ?? READ_BYTES) / blockSize) * blockSize);
    const start = range === undefined ? 0 : Math.min(range.start, fragment.bytes);
    const end = range === undefined ? fragment.bytes : Math.min(Math.max(range.end, start), fragment.bytes);
    const firstRecord = Math.floor(start / blockSize);
    await drive.seekBlock(location.blockOffset + firstRecord);
    return readRecords(drive, fragment, { from: firstRecord * blockSize, start, end, whole: range === undefined, readBytes });
  });
}

/**
 * Yields the bytes [start, end) of the tape file, reading from its byte
 * `from` (a record boundary at or before `start`), `readBytes` at a time.
 * A whole read goes on to the filemark.
 */
async function* readRecords(drive: TapeDrive, fragment: Fragment, span: { from: number; start: number; end: number; whole: boolean; readBytes: number }): AsyncGenerator<Uint8Array> {
  const blockSize = drive.blockSize;
  const corrupt = (why: string): CairnError => new CairnError(StatusCode.CORRUPT_IMAGE, `${fragmentLabel(fragment)}: ${why}`);
  let at = span.from;
  while (at < span.end) {
    // A fresh buffer per chunk: the consumer may hold on to what it was given.
    const want = Math.min(span.readBytes, Math.ceil((span.end - at) / blockSize) * blockSize);
    const buffer = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const read = await drive.readRecord(buffer.subarray(filled, filled + blockSize));
      if (read.kind !== 'record') throw corrupt(`the tape file ends (${read.kind === 'filemark' ? 'a filemark' : 'end of data'}) after ${at + filled} bytes; the catalog gives the fragment ${fragment.bytes} bytes`);
      if (read.bytes !== blockSize) throw corrupt(`a ${read.bytes}-byte record at byte ${at + filled}; the volume's records are ${blockSize} bytes`);
      filled += blockSize;
    }
    const from = Math.max(span.start - at, 0);
    const to = Math.min(span.end - at, want);
    at += want;
    if (to > from) yield buffer.subarray(from, to);
  }
  if (!span.whole) return;
  // The fragment's last record was read: the filemark closing its file comes next.
  const after = await drive.readRecord(new Uint8Array(blockSize));
  if (after.kind !== 'filemark') throw corrupt(after.kind === 'record' ? `the tape file goes on past the fragment's ${fragment.bytes} bytes` : `no filemark closes the tape file after the fragment's ${fragment.bytes} bytes (a torn file)`);
}
