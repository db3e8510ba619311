import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TapeError } from '#core/ports/tape-drive.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { readAll, readLabel, records, writeLayout } from '#test/contracts/tape-drive-contract.ts';

const BLOCK_SIZE = 4096;
const faultOf = (error: unknown): string | undefined => (error instanceof TapeError ? error.fault : undefined);

describe('FaultyTapeDrive', () => {
  let dir: string;
  let tape: FileTape;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-faulty-tape-'));
    await writeFile(path.join(dir, 'VOL001'), '');
    tape = await FileTape.open(path.join(dir, 'VOL001'), { blockSize: BLOCK_SIZE });
  });
  afterEach(async () => {
    await tape.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fails a several-record write that carries the injected record, and writes none of it', async () => {
    const faulty = new FaultyTapeDrive(tape, { writeErrorAtRecord: 5 });
    await faulty.writeRecords(records(faulty, 0, 0, 3));
    expect(faultOf(await faulty.writeRecords(records(faulty, 0, 3, 4)).catch((e: unknown) => e))).toBe('write-error');
    expect(await tape.status()).toMatchObject({ block: 3, atEndOfData: true });
  });

  it('counts from the moment faults are injected again', async () => {
    const faulty = new FaultyTapeDrive(tape);
    await writeLayout(faulty, [4]);
    faulty.inject({ writeErrorAtRecord: 2 });
    await faulty.writeRecords(records(faulty, 1, 0, 1));
    expect(faultOf(await faulty.writeRecords(records(faulty, 1, 1, 1)).catch((e: unknown) => e))).toBe('write-error');
    expect(faulty.injected).toEqual({ write: 1, read: 0, position: 0 });
  });

  it('counts only records as reads: filemarks and end of data pass', async () => {
    const faulty = new FaultyTapeDrive(tape);
    await writeLayout(faulty, [1, 1]);
    await faulty.rewind();
    faulty.inject({ readErrorAtRecord: 2 });
    expect(await readLabel(faulty)).toBe('0:0');
    expect(await readLabel(faulty)).toBe('FM');
    expect(faultOf(await readLabel(faulty).catch((e: unknown) => e))).toBe('read-error');
    expect(await readAll(faulty)).toEqual(['FM', 'EOD']);
  });

  it('keeps failing reads once a sticky read fault struck', async () => {
    const faulty = new FaultyTapeDrive(tape);
    await writeLayout(faulty, [3]);
    await faulty.rewind();
    faulty.inject({ readErrorAtRecord: 1, sticky: true });
    for (let i = 0; i < 3; i += 1) expect(faultOf(await readLabel(faulty).catch((e: unknown) => e))).toBe('read-error');
    expect(faulty.injected.read).toBe(3);
  });

  it('keeps failing positioning once a sticky position fault struck, without moving the tape', async () => {
    const faulty = new FaultyTapeDrive(tape);
    await writeLayout(faulty, [2]);
    faulty.inject({ positionErrorAtCall: 1, sticky: true });
    expect(faultOf(await faulty.rewind().catch((e: unknown) => e))).toBe('position-error');
    expect(faultOf(await faulty.seekBlock(0).catch((e: unknown) => e))).toBe('position-error');
    expect(await tape.status()).toMatchObject({ block: 3, atEndOfData: true });
  });

  it('changes nothing without faults', async () => {
    const faulty = new FaultyTapeDrive(tape);
    expect(faulty.path).toBe(tape.path);
    expect(faulty.blockSize).toBe(BLOCK_SIZE);
    await writeLayout(faulty, [2, 1]);
    await faulty.rewind();
    expect(await readAll(faulty)).toEqual(['0:0', '0:1', 'FM', '1:0', 'FM', 'EOD']);
    expect(faulty.injected).toEqual({ write: 0, read: 0, position: 0 });
  });
});
