import { CairnError } from '#core/errors.ts';
import { fragmentLabel, type Fragment, type FragmentEncoding } from '#core/model/image.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * The zstd seekable format's seek table (facebook/zstd,
 * contrib/seekable_format/zstd_seekable_compression_format.md, 0.1.0): a
 * skippable frame at the end of the object listing each frame's compressed
 * and decompressed size. Written without the optional per-entry checksum:
 * each zstd frame carries its own content checksum, which the decompressor
 * checks before any of its bytes are used.
 *
 *   0x184D2A5E | Frame_Size | entries (4 + 4 bytes each) | Number_Of_Frames | descriptor 0 | 0x8F92EAB1
 */
const SKIPPABLE_MAGIC = 0x184d2a5e;
const SEEKABLE_MAGIC = 0x8f92eab1;
const ENTRY_BYTES = 8;
const HEADER_BYTES = 8;
const FOOTER_BYTES = 9;
/** The descriptor's checksum flag (bit 7) and reserved bits (6-2): this reader knows neither set. */
const DESCRIPTOR_KNOWN_MASK = 0b1111_1100;

export interface FrameEntry {
  compressedBytes: number;
  tarBytes: number;
}

/** One frame as it sits in the object and in the tar archive. */
export interface FramePlace {
  /** 0-based frame number. */
  index: number;
  storedStart: number;
  storedEnd: number;
  tarStart: number;
  tarEnd: number;
}

/** The seek table of `entries`, ready to be stored after the frames. */
export function encodeSeekTable(entries: readonly FrameEntry[]): Buffer {
  const size = seekTableBytes(entries.length);
  const table = Buffer.alloc(size);
  table.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  table.writeUInt32LE(size - HEADER_BYTES, 4);
  entries.forEach((entry, i) => {
    table.writeUInt32LE(entry.compressedBytes, HEADER_BYTES + i * ENTRY_BYTES);
    table.writeUInt32LE(entry.tarBytes, HEADER_BYTES + i * ENTRY_BYTES + 4);
  });
  table.writeUInt32LE(entries.length, size - FOOTER_BYTES);
  table.writeUInt8(0, size - 5);
  table.writeUInt32LE(SEEKABLE_MAGIC, size - 4);
  return table;
}

/** Bytes of a seek table of `frames` entries (without checksums). */
export function seekTableBytes(frames: number): number {
  return HEADER_BYTES + frames * ENTRY_BYTES + FOOTER_BYTES;
}

/** Frames of an encoded fragment: its tar bytes cut every `frameBytes`. */
export function frameCount(encoding: FragmentEncoding): number {
  return Math.ceil(encoding.tarBytes / encoding.frameBytes);
}

/**
 * The frames of `fragment`, from its stored seek table, checked against
 * what the catalog says of the fragment: the table must be well formed,
 * list one frame per `frameBytes` of its `tarBytes`, and its frames and
 * itself must fill the stored object exactly. Anything else is a corrupt
 * image (2001) naming the fragment: a forged or damaged table never sends a
 * read to the wrong bytes.
 */
export function parseSeekTable(fragment: Fragment, encoding: FragmentEncoding, table: Buffer): FramePlace[] {
  const corrupt = (why: string): CorruptFragmentError => new CorruptFragmentError(`${fragmentLabel(fragment)} has a bad seek table: ${why}`);
  const frames = frameCount(encoding);
  const size = seekTableBytes(frames);
  if (table.byteLength !== size) throw corrupt(`read ${table.byteLength} of its ${size} bytes`);
  if (table.readUInt32LE(size - 4) !== SEEKABLE_MAGIC) throw corrupt('it does not end with the seekable magic number');
  if (table.readUInt32LE(0) !== SKIPPABLE_MAGIC) throw corrupt('it does not start with a skippable frame');
  if (table.readUInt32LE(4) !== size - HEADER_BYTES) throw corrupt(`its frame size is ${table.readUInt32LE(4)}, not ${size - HEADER_BYTES}`);
  const descriptor = table.readUInt8(size - 5);
  if ((descriptor & DESCRIPTOR_KNOWN_MASK) !== 0) throw corrupt(`its descriptor ${descriptor} sets checksum or reserved bits`);
  const listed = table.readUInt32LE(size - FOOTER_BYTES);
  if (listed !== frames) throw corrupt(`it lists ${listed} frames where ${encoding.tarBytes} tar bytes make ${frames}`);
  const places: FramePlace[] = [];
  let stored = 0;
  for (let i = 0; i < frames; i++) {
    const compressedBytes = table.readUInt32LE(HEADER_BYTES + i * ENTRY_BYTES);
    const tarBytes = table.readUInt32LE(HEADER_BYTES + i * ENTRY_BYTES + 4);
    const tarStart = i * encoding.frameBytes;
    const expected = Math.min(encoding.frameBytes, encoding.tarBytes - tarStart);
    if (tarBytes !== expected) throw corrupt(`frame ${i} holds ${tarBytes} tar bytes, not ${expected}`);
    if (compressedBytes === 0) throw corrupt(`frame ${i} is empty`);
    places.push({ index: i, storedStart: stored, storedEnd: stored + compressedBytes, tarStart, tarEnd: tarStart + tarBytes });
    stored += compressedBytes;
  }
  if (stored + size !== fragment.bytes) throw corrupt(`its frames and itself make ${stored + size} bytes, the fragment has ${fragment.bytes}`);
  return places;
}

/** The frames holding any of the tar bytes [start, end). */
export function framesCovering(places: readonly FramePlace[], frameBytes: number, start: number, end: number): FramePlace[] {
  if (end <= start || places.length === 0) return [];
  const first = Math.floor(start / frameBytes);
  const last = Math.min(places.length - 1, Math.floor((end - 1) / frameBytes));
  return places.slice(first, last + 1);
}

/**
 * A compressed fragment that cannot be read as what the catalog says it is
 * (a bad seek table, a frame that does not decompress or whose checksum
 * fails, a truncated object, stored bytes whose sha256 is not the
 * catalog's): a corrupt image (2001), naming the fragment and the frame.
 */
export class CorruptFragmentError extends CairnError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(StatusCode.CORRUPT_IMAGE, message, options);
    this.name = 'CorruptFragmentError';
  }
}
