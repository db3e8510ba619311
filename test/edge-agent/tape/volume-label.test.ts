import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pack as createPack } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { LABEL_MAGIC, VolumeLabelError, checkMountedVolume, labelArchive, padToRecords, readLabel, writeLabel, type VolumeLabel } from '#agent/tape/format/volume-label.ts';
import { StatusCode } from '#core/status-codes.ts';
import { tempDir } from '../helpers.ts';
import { KiB, hasGnuTar, readVolumeBytes } from './tape-shelf.ts';

const SHAPE = { blockSize: 32 * KiB, capacityBytes: 4 * 1024 * KiB };
const WRITTEN = { pool: 'daily', writtenAt: '2026-12-03T04:00:00.000Z', writtenBy: 'cairn 0.1.0' };

describe('volume labels', () => {
  const opened: FileTape[] = [];
  const dirs: ReturnType<typeof tempDir>[] = [];
  afterEach(async () => {
    for (const drive of opened.splice(0)) await drive.close();
    for (const dir of dirs.splice(0)) dir.cleanup();
  });
  /** A blank volume (an empty file) loaded in a file-tape drive. */
  const blankVolume = async (shape: { blockSize: number; capacityBytes: number } = SHAPE): Promise<FileTape> => {
    const dir = tempDir('tape-label');
    dirs.push(dir);
    const file = path.join(dir.dir, 'volume');
    writeFileSync(file, '');
    const drive = await FileTape.open(file, shape);
    opened.push(drive);
    return drive;
  };
  const failureOf = async (promise: Promise<unknown>): Promise<VolumeLabelError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VolumeLabelError);
    return error as VolumeLabelError;
  };
  /** Writes `records` (padded to the drive's records) as file 0, closed by a filemark unless `torn`. */
  const writeFile0 = async (drive: FileTape, bytes: Buffer, torn = false): Promise<void> => {
    await drive.rewind();
    await drive.writeRecords(padToRecords(bytes, drive.blockSize));
    if (!torn) await drive.writeFilemarks(1);
  };

  it('reads back the label it wrote, with the drive block size, leaving the tape at file 1', async () => {
    // Prepare
    const drive = await blankVolume();

    // Act
    const written = await writeLabel(drive, { mediaId: 'A00001', ...WRITTEN });
    const read = await readLabel(drive);

    // Assess
    expect(read).toEqual<VolumeLabel>({ formatVersion: 1, mediaId: 'A00001', blockSize: 32 * KiB, ...WRITTEN });
    expect(written).toEqual(read);
    expect(await drive.status()).toMatchObject({ fileNumber: 1, blockInFile: 0 });
  });

  it.skipIf(!hasGnuTar)(`is a tar archive GNU tar reads from the volume file: one CAIRN.LABEL member with the label's text${hasGnuTar ? '' : ' (skipped: GNU tar is not installed)'}`, async () => {
    // Prepare
    const drive = await blankVolume();
    await writeLabel(drive, { mediaId: 'A00001', ...WRITTEN });

    // Act
    const record = readVolumeBytes(drive.path, drive.byteOffsetOf(0), drive.blockSize);
    const listing = execFileSync('tar', ['-tvf', '-'], { input: record, encoding: 'utf8' });
    const text = execFileSync('tar', ['-xOf', '-', 'CAIRN.LABEL'], { input: record, encoding: 'utf8' });

    // Assess
    expect(listing).toMatch(/^-r--r--r-- cairn\/cairn +\d+ 20\d\d-\d\d-\d\d \d\d:\d\d CAIRN\.LABEL\n$/);
    expect(text).toBe(`${LABEL_MAGIC}\nformatVersion=1\nmediaId=A00001\npool=daily\nblockSize=32768\nwrittenAt=2026-12-03T04:00:00.000Z\nwrittenBy=cairn 0.1.0\n`);
  });

  it('says a new tape is blank', async () => {
    const drive = await blankVolume();
    const failure = await failureOf(readLabel(drive));
    expect(failure.problem).toBe('blank');
    expect(failure.statusCode).toBe(StatusCode.WRONG_TAPE_IN_DRIVE);
  });

  it('says a tape of other data is not a Cairn volume: another tar archive, or bytes that are not tar at all', async () => {
    // Prepare
    const other = createPack();
    other.entry({ name: 'etc/passwd', size: 4 }, 'root');
    other.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of other as AsyncIterable<Buffer>) chunks.push(chunk);
    const tarDrive = await blankVolume();
    await writeFile0(tarDrive, Buffer.concat(chunks));
    const junkDrive = await blankVolume();
    await writeFile0(junkDrive, Buffer.alloc(SHAPE.blockSize, 0x41));

    // Act
    const tarFailure = await failureOf(readLabel(tarDrive));
    const junkFailure = await failureOf(readLabel(junkDrive));

    // Assess
    expect(tarFailure.problem).toBe('foreign');
    expect(tarFailure.message).toBe(`file 0 of the tape in ${tarDrive.path} is not a Cairn label: it is a tar archive whose first member is "etc/passwd", not CAIRN.LABEL`);
    expect(junkFailure.problem).toBe('foreign');
    expect(junkFailure.message).toBe(`file 0 of the tape in ${junkDrive.path} is not a Cairn label: it is not a tar archive`);
  });

  it('says a label is corrupt when no filemark closes it, when a field is wrong, and when it is of a newer format', async () => {
    // Prepare
    const label: VolumeLabel = { formatVersion: 1, mediaId: 'A00001', blockSize: SHAPE.blockSize, ...WRITTEN };
    const torn = await blankVolume();
    await writeFile0(torn, await labelArchive(label), true);
    const badPool = await blankVolume();
    await writeFile0(badPool, await labelArchive({ ...label, pool: '../x' }));
    const newer = await blankVolume();
    await writeFile0(newer, await labelArchive({ ...label, formatVersion: 2 }));

    // Act
    const failures = [await failureOf(readLabel(torn)), await failureOf(readLabel(badPool)), await failureOf(readLabel(newer))];

    // Assess
    expect(failures.map((f) => f.problem)).toEqual(['corrupt', 'corrupt', 'corrupt']);
    expect(failures[0]!.message).toBe(`the label of volume A00001 in ${torn.path} is torn: no filemark follows it (its writer stopped before closing it)`);
    expect(failures[1]!.message).toMatch(/^the Cairn label in .* cannot be read: pool: use letters, digits/);
    expect(failures[2]!.message).toBe(`the Cairn label in ${newer.path} cannot be read: it is label format version 2, newer than this Cairn reads (1): upgrade Cairn`);
  });

  it('refuses a mount of the wrong volume with 93, naming the volume expected and the one found', async () => {
    // Prepare
    const drive = await blankVolume();
    await writeLabel(drive, { mediaId: 'A00002', ...WRITTEN });

    // Act
    const failure = await failureOf(checkMountedVolume(drive, 'A00001'));
    const right = await checkMountedVolume(drive, 'A00002');

    // Assess
    expect(failure.statusCode).toBe(93);
    expect(failure.problem).toBe('wrong-volume');
    expect(failure.message).toBe(`wrong tape in ${drive.path}: expected volume A00001, found volume A00002 (pool daily, labelled 2026-12-03T04:00:00.000Z by cairn 0.1.0)`);
    expect(failure.found?.mediaId).toBe('A00002');
    expect(right.mediaId).toBe('A00002');
  });

  it('refuses a blank tape where a volume was expected', async () => {
    // Prepare
    const blank = await blankVolume();

    // Act
    const failure = await failureOf(checkMountedVolume(blank, 'A00001'));

    // Assess
    expect(failure.problem).toBe('blank');
    expect(failure.message).toBe(`wrong tape in ${blank.path}: expected volume A00001, found a blank tape (the tape in ${blank.path} is blank (nothing written at the beginning of tape))`);
  });

  it('refuses a volume whose label gives another block size than the drive reads with', async () => {
    // Prepare: a label saying 16 KiB records, on a volume in a drive set to 32 KiB.
    const drive = await blankVolume();
    await writeFile0(drive, await labelArchive({ formatVersion: 1, mediaId: 'A00004', blockSize: 16 * KiB, ...WRITTEN }));

    // Act
    const failure = await failureOf(checkMountedVolume(drive, 'A00004'));

    // Assess
    expect(failure.problem).toBe('wrong-volume');
    expect(failure.message).toBe(`volume A00004 in ${drive.path} was written with 16384-byte records; the drive is set to 32768-byte records`);
  });
});
