/**
 * The on-disk encoding of a file tape (a virtual volume): one plain file,
 * read and written by `FileTape`. Hand-written: no library encodes tape
 * semantics in a file with the record data left plain for GNU tar. See
 * edge-agent/tape/drives/README.md and docs/image-format.md, "File tape
 * (virtual volumes)".
 *
 *   offset 0          header, 4 KiB: `CAIRN-FILE-TAPE 1\n{json}\n`, zero-padded
 *   offset 4 KiB      filemark table: 16-byte entries, one per filemark, in order
 *   offset 1 MiB      records, back to back, `blockSize` bytes each, nothing between
 *
 * Filemarks are not in the data area: a filemark is the number of records
 * written before it, kept in the table. So a tape file's records are one
 * contiguous byte range and GNU tar reads a fragment straight from the volume
 * file at `fileTapeByteOffset`. An empty file (what disk-changer's `touch`
 * leaves) is a blank volume; the first write at the beginning of tape
 * writes the header.
 */

/** Bytes of the header at the start of the volume file. */
export const HEADER_BYTES = 4096;
/** Where the filemark table starts. */
export const MARK_TABLE_OFFSET = HEADER_BYTES;
export const MARK_ENTRY_BYTES = 16;
/** Where the first record starts: records are at DATA_OFFSET + index × blockSize. */
export const DATA_OFFSET = 1024 * 1024;
/** Filemarks a volume can hold: the table fills the space up to the data. A volume whose table is full is at end of media for filemarks. */
export const MAX_FILEMARKS = (DATA_OFFSET - MARK_TABLE_OFFSET) / MARK_ENTRY_BYTES;

const MAGIC_LINE = 'CAIRN-FILE-TAPE 1\n';
const MARK_TAG = Buffer.from('FMRK', 'latin1');

export interface FileTapeHeader {
  /** Bytes per record of everything on the volume. */
  blockSize: number;
}

/** The header block (HEADER_BYTES): a magic line, a JSON line a person can read with `head -c 4096`, zeros. */
export function encodeHeader(header: FileTapeHeader): Buffer {
  const text = `${MAGIC_LINE}${JSON.stringify({ blockSize: header.blockSize, dataOffset: DATA_OFFSET, markTableOffset: MARK_TABLE_OFFSET, markEntryBytes: MARK_ENTRY_BYTES })}\n`;
  const block = Buffer.alloc(HEADER_BYTES);
  block.write(text, 0, 'utf8');
  return block;
}

/** The header of a volume file, or undefined when the bytes are not a file tape's header (a foreign or torn file). */
export function decodeHeader(block: Uint8Array): FileTapeHeader | undefined {
  const bytes = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  if (bytes.byteLength < HEADER_BYTES || bytes.toString('latin1', 0, MAGIC_LINE.length) !== MAGIC_LINE) return undefined;
  const end = bytes.indexOf(0x0a, MAGIC_LINE.length);
  if (end < 0) return undefined;
  try {
    const json = JSON.parse(bytes.toString('utf8', MAGIC_LINE.length, end)) as Record<string, unknown>;
    const { blockSize, dataOffset, markTableOffset, markEntryBytes } = json;
    if (typeof blockSize !== 'number' || !Number.isSafeInteger(blockSize) || blockSize <= 0) return undefined;
    // Another layout would be another version: refuse rather than misread it.
    if (dataOffset !== DATA_OFFSET || markTableOffset !== MARK_TABLE_OFFSET || markEntryBytes !== MARK_ENTRY_BYTES) return undefined;
    return { blockSize };
  } catch {
    return undefined;
  }
}

/**
 * Filemark table entries `first`, `first + 1`, ... for marks after
 * `recordsBefore` records each: `FMRK`, the entry's own index (u32 LE), the
 * records before the mark (u64 LE). The index in the entry means a stale
 * entry left past a shorter table can never be read as the next one.
 */
export function encodeMarks(first: number, recordsBefore: readonly number[]): Buffer {
  const out = Buffer.alloc(recordsBefore.length * MARK_ENTRY_BYTES);
  recordsBefore.forEach((records, i) => {
    const at = i * MARK_ENTRY_BYTES;
    MARK_TAG.copy(out, at);
    out.writeUInt32LE(first + i, at + 4);
    out.writeBigUInt64LE(BigInt(records), at + 8);
  });
  return out;
}

/**
 * The filemarks of a volume from its table bytes: the longest run of valid
 * entries from entry 0 whose record counts never decrease and never pass
 * `recordsOnVolume`. The first entry that fails (zeros, a torn write, an
 * entry pointing past the records the file holds) ends the table.
 */
export function decodeMarks(table: Uint8Array, recordsOnVolume: number): number[] {
  const bytes = Buffer.from(table.buffer, table.byteOffset, table.byteLength);
  const marks: number[] = [];
  for (let at = 0; at + MARK_ENTRY_BYTES <= bytes.byteLength; at += MARK_ENTRY_BYTES) {
    if (!bytes.subarray(at, at + 4).equals(MARK_TAG) || bytes.readUInt32LE(at + 4) !== marks.length) break;
    const records = Number(bytes.readBigUInt64LE(at + 8));
    if (records > recordsOnVolume || records < (marks.at(-1) ?? 0)) break;
    marks.push(records);
  }
  return marks;
}

/**
 * Where in the volume file the record at logical block `block` of tape file
 * `fileNumber` starts (a fragment's catalog location gives both). Logical
 * blocks count each filemark as one block, so `block - fileNumber` records
 * come before it.
 */
export function fileTapeByteOffset(location: { fileNumber: number; block: number; blockSize: number }): number {
  return DATA_OFFSET + (location.block - location.fileNumber) * location.blockSize;
}
