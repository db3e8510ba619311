import { describe, expect, it } from 'vitest';
import { TapeError, type TapeDrive, type TapeFault, type TapeStatus } from '#core/ports/tape-drive.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { type OpenStore, type StoreFixture, describeContract } from './fixtures.ts';

export interface TapeDriveContractOptions {
  /**
   * The adapter's fresh volume is blank (end of data at the beginning of
   * tape). A real tape cannot be erased quickly, so st says false; every
   * other test starts by writing from the beginning of tape, which erases
   * what was there.
   */
  freshVolumeIsBlank: boolean;
  /**
   * Opens the adapter on a fresh volume that holds `capacityBytes` of
   * records with the early-warning mark `earlyWarningBytes` before that.
   * Absent when the adapter cannot be given a capacity (a real tape): the
   * early-warning and end-of-media tests then skip.
   */
  openWithCapacity?: (capacityBytes: number, earlyWarningBytes: number) => Promise<StoreFixture<TapeDrive>>;
  /**
   * The drive may report the file number or the block within the file as
   * unknown after seeking or spacing (st does: after `mt seek` and `mt bsf`
   * it prints -1). Where it does, those two are not compared; the logical
   * block always is.
   */
  mayLoseFilePosition?: boolean;
}

/**
 * One contract for every TapeDrive adapter: st's records, filemarks,
 * positions and end of data (Linux Documentation/scsi/st.rst, mt(1)).
 *
 * The layout most tests write, [2, 3, 1], is three tape files of 2, 3 and 1
 * records, each closed by a filemark. Logical blocks (filemarks count one):
 *
 *   0 1 | 2=FM | 3 4 5 | 6=FM | 7 | 8=FM | 9=end of data
 */
export function describeTapeDriveContract(adapter: string, open: OpenStore<TapeDrive>, options: TapeDriveContractOptions, skipReason?: string): void {
  describeContract('TapeDrive', adapter, open, skipReason, (drive) => {
    /** Where the tape is; a field the adapter may not know (mayLoseFilePosition) is taken as expected when it is undefined. */
    const positionOf = async (tape: TapeDrive, expected?: Position): Promise<Position> => {
      const { fileNumber, blockInFile, block } = await tape.status();
      const lenient = options.mayLoseFilePosition === true && expected !== undefined;
      return {
        fileNumber: fileNumber === undefined && lenient ? expected.fileNumber : fileNumber,
        blockInFile: blockInFile === undefined && lenient ? expected.blockInFile : blockInFile,
        block,
      };
    };
    const expectPosition = async (tape: TapeDrive, expected: Position): Promise<void> => {
      expect(await positionOf(tape, expected)).toEqual(expected);
    };
    const blockAndFile = async (tape: TapeDrive, expected: Omit<Position, 'blockInFile'>): Promise<void> => {
      const { fileNumber, block } = await positionOf(tape, { ...expected, blockInFile: undefined });
      expect({ fileNumber, block }).toEqual(expected);
    };

    it.skipIf(!options.freshVolumeIsBlank)('reads end of data on a blank volume at the beginning of tape', async () => {
      expect(await drive().status()).toMatchObject({ online: true, fileNumber: 0, block: 0, atBeginning: true, atEndOfData: true, earlyWarning: false });
      expect(await drive().readRecord(new Uint8Array(drive().blockSize))).toEqual({ kind: 'end-of-data' });
    });

    it('writes records and filemarks and reads them back with filemarks and end of data, at st positions', async () => {
      const tape = drive();
      await tape.rewind();
      expect(await tape.writeRecords(records(tape, 0, 0, 2))).toEqual({ earlyWarning: false });
      await expectPosition(tape, { fileNumber: 0, blockInFile: 2, block: 2 });
      await tape.writeFilemarks();
      await expectPosition(tape, { fileNumber: 1, blockInFile: 0, block: 3 });
      await tape.writeRecords(records(tape, 1, 0, 1));
      await tape.writeFilemarks(2);
      await expectPosition(tape, { fileNumber: 3, blockInFile: 0, block: 6 });
      expect((await tape.status()).atEndOfData).toBe(true);

      await tape.rewind();
      expect(await tape.status()).toMatchObject({ fileNumber: 0, blockInFile: 0, block: 0, atBeginning: true });
      expect(await readAll(tape)).toEqual(['0:0', '0:1', 'FM', '1:0', 'FM', 'FM', 'EOD']);
      expect(await tape.status()).toMatchObject({ fileNumber: 3, block: 6, atEndOfData: true });
    });

    it('is at block 0 of the next tape file once a filemark is read', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      const buffer = new Uint8Array(tape.blockSize);
      await tape.readRecord(buffer);
      await expectPosition(tape, { fileNumber: 0, blockInFile: 1, block: 1 });
      await tape.readRecord(buffer);
      expect(await tape.readRecord(buffer)).toEqual({ kind: 'filemark' });
      await expectPosition(tape, { fileNumber: 1, blockInFile: 0, block: 3 });
      expect(await tape.readRecord(buffer)).toEqual({ kind: 'record', bytes: tape.blockSize });
      expect(labelOf(buffer)).toBe('1:0');
    });

    it('writes several records in one call and reads each back whole', async () => {
      const tape = drive();
      await tape.rewind();
      await tape.writeRecords(records(tape, 0, 0, 5));
      await tape.writeFilemarks();
      await tape.rewind();
      const buffer = new Uint8Array(tape.blockSize);
      for (let i = 0; i < 5; i += 1) {
        expect(await tape.readRecord(buffer)).toEqual({ kind: 'record', bytes: tape.blockSize });
        expect(Buffer.from(buffer).equals(record(tape, 0, i))).toBe(true);
      }
      expect(await tape.readRecord(buffer)).toEqual({ kind: 'filemark' });
    });

    it('spaces forward over filemarks to block 0 of the file after the last one', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.forwardFiles(1);
      await expectPosition(tape, { fileNumber: 1, blockInFile: 0, block: 3 });
      expect(await readLabel(tape)).toBe('1:0');
      await tape.forwardFiles(1);
      await expectPosition(tape, { fileNumber: 2, blockInFile: 0, block: 7 });
      await tape.rewind();
      await tape.forwardFiles(3);
      expect(await tape.status()).toMatchObject({ fileNumber: 3, block: 9 });
      expect(await readLabel(tape)).toBe('EOD');
    });

    it('refuses to space forward past end of data with blank check', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await expectFault(tape.forwardFiles(4), 'blank-check');
    });

    it('spaces backward to the beginning-of-tape side of the last filemark crossed', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.forwardFiles(2);
      await tape.backwardFiles(1);
      // Before filemark 1 (block 6): reading crosses it again.
      await blockAndFile(tape, { fileNumber: 1, block: 6 });
      expect(await readLabel(tape)).toBe('FM');
      expect(await readLabel(tape)).toBe('2:0');
      // From inside file 2, two filemarks back: before filemark 0 (block 2).
      await tape.backwardFiles(2);
      await blockAndFile(tape, { fileNumber: 0, block: 2 });
      expect(await readLabel(tape)).toBe('FM');
      expect(await readLabel(tape)).toBe('1:0');
    });

    it('refuses to space backward past the beginning of tape', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.forwardFiles(1);
      const error = await tape.backwardFiles(2).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TapeError);
      expect((error as TapeError).fault).toBe('position-error');
      expect((error as TapeError).statusCode).toBe(StatusCode.MEDIA_POSITION_ERROR);
    });

    it('goes to end of data and appends there without touching what was written before', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.seekEndOfData();
      expect(await tape.status()).toMatchObject({ fileNumber: 3, block: 9, atEndOfData: true, atBeginning: false });
      await tape.writeRecords(records(tape, 3, 0, 2));
      await tape.writeFilemarks();
      await expectPosition(tape, { fileNumber: 4, blockInFile: 0, block: 12 });
      await tape.rewind();
      expect(await readAll(tape)).toEqual(['0:0', '0:1', 'FM', '1:0', '1:1', '1:2', 'FM', '2:0', 'FM', '3:0', '3:1', 'FM', 'EOD']);
    });

    it('seeks to a logical block where filemarks count one block each', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.seekBlock(4);
      await expectPosition(tape, { fileNumber: 1, blockInFile: 1, block: 4 });
      expect(await readLabel(tape)).toBe('1:1');
      await tape.seekBlock(6);
      await blockAndFile(tape, { fileNumber: 1, block: 6 });
      expect(await readLabel(tape)).toBe('FM');
      await tape.seekBlock(7);
      expect(await readLabel(tape)).toBe('2:0');
      await tape.seekBlock(0);
      expect((await tape.status()).atBeginning).toBe(true);
      expect(await readLabel(tape)).toBe('0:0');
      await tape.seekBlock(9);
      expect((await tape.status()).block).toBe(9);
      expect(await readLabel(tape)).toBe('EOD');
    });

    it('refuses to seek past end of data with blank check', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await expectFault(tape.seekBlock(11), 'blank-check');
    });

    it('erases everything after a write in the middle of the tape', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.seekBlock(4);
      await tape.writeRecords(records(tape, 9, 0, 1));
      await expectPosition(tape, { fileNumber: 1, blockInFile: 2, block: 5 });
      expect((await tape.status()).atEndOfData).toBe(true);
      // Closed by a filemark before the tape moves (st writes one itself when it must close a device after writing).
      await tape.writeFilemarks();
      await tape.rewind();
      expect(await readAll(tape)).toEqual(['0:0', '0:1', 'FM', '1:0', '9:0', 'FM', 'EOD']);
      await tape.rewind();
      await expectFault(tape.forwardFiles(3), 'blank-check');
    });

    it('erases everything after a filemark written in the middle of the tape', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.forwardFiles(1);
      await tape.writeFilemarks();
      expect(await tape.status()).toMatchObject({ fileNumber: 2, blockInFile: 0, block: 4, atEndOfData: true });
      await tape.rewind();
      expect(await readAll(tape)).toEqual(['0:0', '0:1', 'FM', 'FM', 'EOD']);
    });

    it('rewrites a volume from the beginning of tape', async () => {
      const tape = drive();
      await writeLayout(tape, [2, 3, 1]);
      await tape.rewind();
      await tape.writeRecords(records(tape, 5, 0, 1));
      await tape.writeFilemarks();
      await tape.rewind();
      expect(await readAll(tape)).toEqual(['5:0', 'FM', 'EOD']);
    });

    it('refuses a write that is not whole records, and writes nothing of it', async () => {
      const tape = drive();
      await writeLayout(tape, [1]);
      const error = await tape.writeRecords(new Uint8Array(tape.blockSize + 512)).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(await tape.status()).toMatchObject({ fileNumber: 1, block: 2, atEndOfData: true });
      await tape.rewind();
      expect(await readAll(tape)).toEqual(['0:0', 'FM', 'EOD']);
    });

    it('refuses a read into a buffer shorter than a record', async () => {
      const tape = drive();
      await writeLayout(tape, [1]);
      await tape.rewind();
      const error = await tape.readRecord(new Uint8Array(tape.blockSize - 512)).then(() => undefined, (e: unknown) => e);
      expect((error as CairnError).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(await readLabel(tape)).toBe('0:0');
    });

    describe('injected faults (FaultyTapeDrive around the adapter)', () => {
      it('fails the write carrying the injected record with a write error, writes nothing of it, and lets the retry through', async () => {
        const tape = new FaultyTapeDrive(drive(), { writeErrorAtRecord: 3 });
        await tape.rewind();
        await tape.writeRecords(records(tape, 0, 0, 2));
        const error = await tape.writeRecords(records(tape, 0, 2, 2)).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(TapeError);
        expect((error as TapeError).fault).toBe('write-error');
        expect((error as TapeError).statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
        expect(await tape.status()).toMatchObject({ block: 2, atEndOfData: true });
        await tape.writeRecords(records(tape, 0, 2, 2));
        await tape.writeFilemarks();
        await tape.rewind();
        expect(await readAll(tape)).toEqual(['0:0', '0:1', '0:2', '0:3', 'FM', 'EOD']);
        expect(tape.injected).toEqual({ write: 1, read: 0, position: 0 });
      });

      it('fails every later write and filemark once a sticky write fault struck', async () => {
        const tape = new FaultyTapeDrive(drive(), { writeErrorAtRecord: 1, sticky: true });
        await tape.rewind();
        await expectFault(tape.writeRecords(records(tape, 0, 0, 1)), 'write-error');
        await expectFault(tape.writeRecords(records(tape, 0, 0, 1)), 'write-error');
        await expectFault(tape.writeFilemarks(), 'write-error');
        expect(tape.injected.write).toBe(3);
      });

      it('fails the read of the injected record with a read error, past which the tape reads on', async () => {
        const tape = new FaultyTapeDrive(drive());
        await writeLayout(tape, [3]);
        await tape.rewind();
        tape.inject({ readErrorAtRecord: 2 });
        expect(await readLabel(tape)).toBe('0:0');
        const error = await readLabel(tape).then(() => undefined, (e: unknown) => e);
        expect((error as TapeError).fault).toBe('read-error');
        expect((error as TapeError).statusCode).toBe(StatusCode.MEDIA_READ_ERROR);
        expect(await readAll(tape)).toEqual(['0:2', 'FM', 'EOD']);
      });

      it('fails the injected positioning call with a position error and leaves the tape where it was', async () => {
        const tape = new FaultyTapeDrive(drive());
        await writeLayout(tape, [2, 1]);
        await tape.rewind();
        tape.inject({ positionErrorAtCall: 2 });
        await tape.forwardFiles(1);
        await expectFault(tape.forwardFiles(1), 'position-error');
        await expectPosition(tape, { fileNumber: 1, blockInFile: 0, block: 3 });
        await tape.forwardFiles(1);
        await expectPosition(tape, { fileNumber: 2, blockInFile: 0, block: 5 });
      });
    });

    describe.skipIf(!options.openWithCapacity)(`early warning and end of media${options.openWithCapacity ? '' : ' (skipped: the adapter cannot be given a capacity)'}`, () => {
      // 8 records of capacity, early warning 2 records before the end.
      const withSmallVolume = async (body: (tape: TapeDrive) => Promise<void>): Promise<void> => {
        const probe = await open();
        const blockSize = probe.store.blockSize;
        await probe.cleanup?.();
        const fixture = await options.openWithCapacity!(8 * blockSize, 2 * blockSize);
        try {
          await body(fixture.store);
        } finally {
          await fixture.cleanup?.();
        }
      };

      it('reports early warning on writes past the mark, then refuses the write past capacity with nothing written', async () => {
        await withSmallVolume(async (tape) => {
          expect(await tape.writeRecords(records(tape, 0, 0, 6))).toEqual({ earlyWarning: false });
          expect((await tape.status()).earlyWarning).toBe(false);
          expect(await tape.writeRecords(records(tape, 0, 6, 1))).toEqual({ earlyWarning: true });
          expect((await tape.status()).earlyWarning).toBe(true);
          // Two records where one fits: refused whole.
          const error = await tape.writeRecords(records(tape, 0, 7, 2)).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(TapeError);
          expect((error as TapeError).fault).toBe('end-of-media');
          expect((error as TapeError).statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
          expect(await tape.status()).toMatchObject({ block: 7, atEndOfData: true });
          expect(await tape.writeRecords(records(tape, 0, 7, 1))).toEqual({ earlyWarning: true });
          await expectFault(tape.writeRecords(records(tape, 0, 8, 1)), 'end-of-media');
          // The tape file can still be closed at end of media.
          await tape.writeFilemarks();
          await tape.rewind();
          expect(await readAll(tape)).toEqual(['0:0', '0:1', '0:2', '0:3', '0:4', '0:5', '0:6', '0:7', 'FM', 'EOD']);
        });
      });

      it('gives the space back when the tape is rewritten from an earlier block', async () => {
        await withSmallVolume(async (tape) => {
          await tape.writeRecords(records(tape, 0, 0, 8));
          await tape.seekBlock(2);
          expect(await tape.writeRecords(records(tape, 1, 0, 4))).toEqual({ earlyWarning: false });
          expect((await tape.status()).earlyWarning).toBe(false);
        });
      });
    });
  });
}

/** A record of `tape`'s size whose first bytes say `file:index` and whose rest is a pattern of both. */
export function record(tape: { blockSize: number }, file: number, index: number): Buffer {
  const bytes = Buffer.alloc(tape.blockSize, (file * 31 + index * 7 + 1) & 0xff);
  bytes.write(`${file}:${index}\0`, 0, 'latin1');
  return bytes;
}

export function records(tape: { blockSize: number }, file: number, first: number, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => record(tape, file, first + i)));
}

/** Writes from the beginning of tape: tape file f holds `layout[f]` records, each file closed by a filemark. */
export async function writeLayout(tape: TapeDrive, layout: readonly number[]): Promise<void> {
  await tape.rewind();
  for (const [file, count] of layout.entries()) {
    if (count > 0) await tape.writeRecords(records(tape, file, 0, count));
    await tape.writeFilemarks();
  }
}

export function labelOf(buffer: Uint8Array): string {
  const bytes = Buffer.from(buffer);
  return bytes.toString('latin1', 0, bytes.indexOf(0));
}

/** Reads one record: its label (checked against its whole pattern), or FM, or EOD. */
export async function readLabel(tape: TapeDrive): Promise<string> {
  const buffer = new Uint8Array(tape.blockSize);
  const read = await tape.readRecord(buffer);
  if (read.kind === 'filemark') return 'FM';
  if (read.kind === 'end-of-data') return 'EOD';
  const label = labelOf(buffer);
  const [file, index] = label.split(':').map(Number);
  if (!Buffer.from(buffer).equals(record(tape, file!, index!))) return `${label} (corrupt)`;
  return label;
}

/** Reads until end of data (at most 1,000 reads). */
export async function readAll(tape: TapeDrive): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 1000; i += 1) {
    const label = await readLabel(tape);
    seen.push(label);
    if (label === 'EOD') break;
  }
  return seen;
}

type Position = Pick<TapeStatus, 'fileNumber' | 'blockInFile' | 'block'>;

async function expectFault(operation: Promise<unknown>, fault: TapeFault): Promise<void> {
  const error = await operation.then(() => undefined, (e: unknown) => e);
  expect(error, `expected TapeError '${fault}'`).toBeInstanceOf(TapeError);
  expect((error as TapeError).fault).toBe(fault);
}
