import { TapeError, type TapeDrive } from '#core/ports/tape-drive.ts';

export interface AppendPoint {
  /** Logical block the next tape file starts at. */
  block: number;
  /** Tape files before it (complete ones: each ended by a filemark). */
  fileNumber: number;
  /** Records of an unterminated last tape file (a writer killed before its filemark) that the next write erases. */
  unterminatedRecords: number;
}

/**
 * Positions the drive where the next tape file goes: right after the last
 * filemark. On tape, as on a file tape, records a killed writer left after
 * the last filemark are on the volume up to end of data; they are not a
 * complete tape file, so the next write goes over them rather than after
 * them (which would glue them to the next file). Works with logical blocks
 * only (end of data, then back over one filemark and forward over it
 * again), so it needs nothing st may not know (st forgets the block within
 * the file after spacing backward).
 */
export async function seekAppendPoint(drive: TapeDrive): Promise<AppendPoint> {
  await drive.seekEndOfData();
  const end = await blockOf(drive);
  try {
    await drive.backwardFiles(1);
  } catch (error) {
    // No filemark on the volume: the next tape file is the first.
    if (!(error instanceof TapeError) || error.fault !== 'position-error') throw error;
    await drive.rewind();
    return { block: 0, fileNumber: 0, unterminatedRecords: end };
  }
  await drive.forwardFiles(1);
  const status = await drive.status();
  const block = status.block ?? (await blockOf(drive));
  if (status.fileNumber === undefined) throw new TapeError('position-error', `${drive.path}: the drive does not report the file number after spacing over the last filemark`);
  return { block, fileNumber: status.fileNumber, unterminatedRecords: end - block };
}

async function blockOf(drive: TapeDrive): Promise<number> {
  const { block } = await drive.status();
  if (block === undefined) throw new TapeError('position-error', `${drive.path}: the drive does not report its logical block position`);
  return block;
}
