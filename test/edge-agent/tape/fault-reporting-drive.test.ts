import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TapeError } from '#core/ports/tape-drive.ts';
import { tapeFaultsIn, type TapeFaultReport } from '#core/media/tape-fault.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { FaultReportingTapeDrive } from '#agent/tape/drives/fault-reporting-drive.ts';
import { records, writeLayout } from '#test/contracts/tape-drive-contract.ts';

const BLOCK_SIZE = 4096;

describe('FaultReportingTapeDrive', () => {
  let dir: string;
  let tape: FileTape;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-fault-report-'));
    await writeFile(path.join(dir, 'VOL001'), '');
    tape = await FileTape.open(path.join(dir, 'VOL001'), { blockSize: BLOCK_SIZE, capacityBytes: 64 * BLOCK_SIZE });
  });
  afterEach(async () => {
    await tape.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('tags a write error with the drive, the volume and where the tape was, keeping its fault and status', async () => {
    const faulty = new FaultyTapeDrive(tape);
    const reported: TapeFaultReport[] = [];
    const drive = new FaultReportingTapeDrive(faulty, { drive: 'd0', mediaId: 'VOL001' }, async (report) => void reported.push(report));
    await writeLayout(drive, [2]);
    faulty.inject({ writeErrorAtRecord: 2 });
    await drive.writeRecords(records(drive, 1, 0, 1));
    const error = await drive.writeRecords(records(drive, 1, 1, 1)).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TapeError);
    expect(error).toMatchObject({ fault: 'write-error', statusCode: 84 });
    // Label file (2 records) + its filemark, then one record of file 1: logical block 4.
    const expected = { kind: 'write', drive: 'd0', mediaId: 'VOL001', tapeFile: 1, block: 4 };
    expect(tapeFaultsIn((error as Error).message)).toEqual([expected]);
    expect(reported).toEqual([expected]);
  });

  it('tags read and position errors, and never tags one twice', async () => {
    const faulty = new FaultyTapeDrive(tape);
    const inner = new FaultReportingTapeDrive(faulty, { drive: 'd1', mediaId: 'VOL001' });
    const outer = new FaultReportingTapeDrive(inner, { drive: 'other' });
    await writeLayout(outer, [2]);
    faulty.inject({ positionErrorAtCall: 1 });
    const position = await outer.rewind().then(() => undefined, (e: unknown) => e);
    expect(position).toMatchObject({ fault: 'position-error', statusCode: 86 });
    expect(tapeFaultsIn((position as Error).message)).toEqual([expect.objectContaining({ kind: 'position', drive: 'd1' })]);
    await faulty.rewind();
    faulty.inject({ readErrorAtRecord: 1 });
    const read = await outer.readRecord(new Uint8Array(BLOCK_SIZE)).then(() => undefined, (e: unknown) => e);
    expect(tapeFaultsIn((read as Error).message)).toEqual([{ kind: 'read', drive: 'd1', mediaId: 'VOL001', tapeFile: 0, block: 1 }]);
  });

  it('leaves end of media and other errors as they are: they are not media errors', async () => {
    const drive = new FaultReportingTapeDrive(tape, { drive: 'd0', mediaId: 'VOL001' });
    const error = await drive.writeRecords(new Uint8Array(80 * BLOCK_SIZE)).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ fault: 'end-of-media' });
    expect(tapeFaultsIn((error as Error).message)).toEqual([]);
    const usage = await drive.writeRecords(new Uint8Array(100)).then(() => undefined, (e: unknown) => e);
    expect(usage).toMatchObject({ statusCode: 20 });
    expect(tapeFaultsIn((usage as Error).message)).toEqual([]);
  });
});
