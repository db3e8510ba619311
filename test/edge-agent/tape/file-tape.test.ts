import { spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TapeError } from '#core/ports/tape-drive.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { DATA_OFFSET, MARK_ENTRY_BYTES, MARK_TABLE_OFFSET, fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { seekAppendPoint } from '#agent/tape/drives/append-point.ts';
import { describeTapeDriveContract, readAll, records, writeLayout } from '#test/contracts/tape-drive-contract.ts';

const BLOCK_SIZE = 4096;

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'cairn-file-tape-'));
}

describeTapeDriveContract(
  'FileTape',
  async () => {
    const dir = await tempDir();
    const volume = path.join(dir, 'VOL001');
    await writeFile(volume, '');
    const store = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
  },
  {
    freshVolumeIsBlank: true,
    openWithCapacity: async (capacityBytes, earlyWarningBytes) => {
      const dir = await tempDir();
      const volume = path.join(dir, 'VOL001');
      await writeFile(volume, '');
      const store = await FileTape.open(volume, { blockSize: BLOCK_SIZE, capacityBytes, earlyWarningBytes });
      return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
    },
  },
);

describe('FileTape volumes', () => {
  let dir: string;
  let volume: string;
  beforeEach(async () => {
    dir = await tempDir();
    volume = path.join(dir, 'VOL001');
    await writeFile(volume, '');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps records and filemarks across a reload, and loads at the beginning of tape', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [2, 3, 1]);
    await tape.close();

    const again = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    expect(await again.status()).toMatchObject({ online: true, fileNumber: 0, block: 0, atBeginning: true, atEndOfData: false });
    expect(await readAll(again)).toEqual(['0:0', '0:1', 'FM', '1:0', '1:1', '1:2', 'FM', '2:0', 'FM', 'EOD']);
    await again.close();
  });

  it('opens the volume through a drive link, as disk-changer loads it', async () => {
    const drive = path.join(dir, 'drive0');
    await symlink(volume, drive);
    const tape = await FileTape.open(drive, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [1]);
    await tape.close();
    expect(tape.path).toBe(drive);
    expect((await stat(volume)).size).toBe(DATA_OFFSET + BLOCK_SIZE);
  });

  it('is not ready with no volume loaded (the drive link is gone)', async () => {
    const error = await FileTape.open(path.join(dir, 'drive1'), { blockSize: BLOCK_SIZE }).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('not-ready');
  });

  it('goes offline on eject and then refuses work as not ready', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [1]);
    await tape.eject();
    expect((await tape.status()).online).toBe(false);
    const error = await tape.readRecord(new Uint8Array(BLOCK_SIZE)).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('not-ready');
  });

  it.skipIf(process.getuid?.() === 0)('is write-protected when the volume file is read-only (skipped as root: root writes anyway)', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [1]);
    await tape.close();
    await chmod(volume, 0o400);
    const readOnly = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    expect((await readOnly.status()).writeProtected).toBe(true);
    expect(await readAll(readOnly)).toEqual(['0:0', 'FM', 'EOD']);
    const error = await readOnly.writeRecords(records(readOnly, 1, 0, 1)).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('write-protected');
    await readOnly.close();
  });

  it('stores each tape file as plain contiguous bytes that GNU tar lists straight from the volume file', async () => {
    // Prepare: a label record, then two tape files that are tar archives padded to whole records.
    const source = path.join(dir, 'src');
    await mkdir(path.join(source, 'a'), { recursive: true });
    await writeFile(path.join(source, 'a', 'one.txt'), 'one\n'.repeat(3000));
    await writeFile(path.join(source, 'two.txt'), 'two\n');
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await tape.writeRecords(records(tape, 0, 0, 1));
    await tape.writeFilemarks();
    const locations: { fileNumber: number; block: number }[] = [];
    for (const member of ['a', 'two.txt']) {
      const { fileNumber, block } = await tape.status();
      locations.push({ fileNumber: fileNumber!, block: block! });
      await tape.writeRecords(padded(tarOf(source, member)));
      await tape.writeFilemarks();
    }

    // Act + Assess: GNU tar reads each tape file from its byte offset, from the catalog's location or from the drive.
    expect(await listTar(volume, fileTapeByteOffset({ ...locations[0]!, blockSize: BLOCK_SIZE }))).toEqual(['a/', 'a/one.txt']);
    expect(await listTar(volume, tape.byteOffsetOf(2))).toEqual(['two.txt']);
    expect(tape.byteOffsetOf(1)).toBe(fileTapeByteOffset({ ...locations[0]!, blockSize: BLOCK_SIZE }));
    await tape.close();
  });

  it('ends the data before a torn last record and writes the next record over it', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [2, 1]);
    await tape.writeRecords(records(tape, 2, 0, 1));
    await tape.close();
    await appendFile(volume, Buffer.alloc(BLOCK_SIZE / 2, 0x55));

    const again = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await again.seekEndOfData();
    expect(await again.status()).toMatchObject({ fileNumber: 2, blockInFile: 1, block: 6 });
    await again.writeRecords(records(again, 2, 1, 1));
    await again.writeFilemarks();
    await again.rewind();
    expect(await readAll(again)).toEqual(['0:0', '0:1', 'FM', '1:0', 'FM', '2:0', '2:1', 'FM', 'EOD']);
    await again.close();
    expect((await stat(volume)).size).toBe(DATA_OFFSET + 5 * BLOCK_SIZE);
  });

  it('ignores a filemark entry that is torn or points past the records on the volume', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [1, 1]);
    await tape.close();
    const bytes = await readFile(volume);
    // Entry 2 claims a mark after 50 records; the volume has 2.
    const bogus = Buffer.from(bytes.subarray(MARK_TABLE_OFFSET + MARK_ENTRY_BYTES, MARK_TABLE_OFFSET + 2 * MARK_ENTRY_BYTES));
    bogus.writeUInt32LE(2, 4);
    bogus.writeBigUInt64LE(50n, 8);
    bogus.copy(bytes, MARK_TABLE_OFFSET + 2 * MARK_ENTRY_BYTES);
    await writeFile(volume, bytes);

    const again = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    expect(await readAll(again)).toEqual(['0:0', 'FM', '1:0', 'FM', 'EOD']);
    await again.close();
  });

  it('refuses to read records of another block size and rewrites the volume with its own from the beginning of tape', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [1, 1]);
    await tape.close();

    const other = await FileTape.open(volume, { blockSize: 2 * BLOCK_SIZE });
    const error = await other.readRecord(new Uint8Array(2 * BLOCK_SIZE)).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('read-error');
    await other.seekEndOfData();
    expect((await other.writeRecords(records(other, 9, 0, 1)).then(() => undefined, (e: unknown) => e) as TapeError).fault).toBe('write-error');
    await other.rewind();
    await other.writeRecords(records(other, 7, 0, 1));
    await other.writeFilemarks();
    await other.rewind();
    expect(await readAll(other)).toEqual(['7:0', 'FM', 'EOD']);
    await other.close();
  });

  it('reads a foreign file as a volume it cannot read, and formats it when written from the beginning of tape', async () => {
    await writeFile(volume, 'not a tape\n');
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    expect(((await tape.readRecord(new Uint8Array(BLOCK_SIZE)).then(() => undefined, (e: unknown) => e)) as TapeError).fault).toBe('read-error');
    await writeLayout(tape, [1]);
    await tape.rewind();
    expect(await readAll(tape)).toEqual(['0:0', 'FM', 'EOD']);
    await tape.close();
  });

  it('finds the append point after the last complete tape file, over the records of an unterminated one', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    await writeLayout(tape, [2, 1]);
    await tape.writeRecords(records(tape, 2, 0, 3));
    expect(await seekAppendPoint(tape)).toEqual({ block: 5, fileNumber: 2, unterminatedRecords: 3 });
    await tape.writeRecords(records(tape, 5, 0, 1));
    await tape.writeFilemarks();
    await tape.rewind();
    expect(await readAll(tape)).toEqual(['0:0', '0:1', 'FM', '1:0', 'FM', '5:0', 'FM', 'EOD']);
    expect(await seekAppendPoint(tape)).toEqual({ block: 7, fileNumber: 3, unterminatedRecords: 0 });
    await tape.close();
  });

  it('puts the append point at the beginning of a volume with no filemark', async () => {
    const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
    expect(await seekAppendPoint(tape)).toEqual({ block: 0, fileNumber: 0, unterminatedRecords: 0 });
    await tape.writeRecords(records(tape, 0, 0, 2));
    expect(await seekAppendPoint(tape)).toEqual({ block: 0, fileNumber: 0, unterminatedRecords: 2 });
    await tape.close();
  });

  it('keeps every complete tape file of a writer killed with SIGKILL mid-stream, and appends after the last one', async () => {
    const recordsPerFile = 24;
    for (const [round, killAfter] of [2, 4, 3].entries()) {
      // Act: a child appends tape files until `killAfter` more are complete, then dies at once.
      const complete = await runAndKill(volume, recordsPerFile, killAfter);

      // Assess: every filemarked file reads back whole; nothing else is a complete file.
      const tape = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
      const point = await seekAppendPoint(tape);
      expect(point.fileNumber, `round ${round}`).toBeGreaterThanOrEqual(complete);
      expect(point.unterminatedRecords).toBeLessThanOrEqual(recordsPerFile);
      await tape.rewind();
      const seen = await readAll(tape);
      const expected = Array.from({ length: point.fileNumber }, (_, file) => [...Array.from({ length: recordsPerFile }, (_, i) => `${file}:${i}`), 'FM']).flat();
      expect(seen.slice(0, expected.length)).toEqual(expected);
      expect(seen.slice(expected.length, -1)).toEqual(Array.from({ length: point.unterminatedRecords }, (_, i) => `${point.fileNumber}:${i}`));
      await tape.close();
    }
  });
});

/** Spawns the writer child, waits for `files` "file N" lines, and kills it with SIGKILL. Resolves with the number of complete files it reported. */
async function runAndKill(volume: string, recordsPerFile: number, files: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./file-tape-writer-child.ts', import.meta.url)), volume, String(BLOCK_SIZE), String(recordsPerFile), '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let lines = 0;
  let lastFile = -1;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lastFile = Number(line.split(' ')[1]);
        lines += 1;
        if (lines >= files) {
          child.kill('SIGKILL');
          resolve();
        }
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited (${code ?? signal}) before it was killed: ${stderr}`))));
  });
  await exited;
  return lastFile + 1;
}

function tarOf(directory: string, member: string): Buffer {
  const run = spawnSync('tar', ['--format=pax', '-cf', '-', '-C', directory, member], { maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`tar failed: ${run.stderr.toString()}`);
  return run.stdout;
}

function padded(bytes: Buffer): Buffer {
  const size = Math.ceil(bytes.byteLength / BLOCK_SIZE) * BLOCK_SIZE;
  return Buffer.concat([bytes, Buffer.alloc(size - bytes.byteLength)]);
}

/** `tar -tf -` fed the volume file from `offset` on: GNU tar stops at the archive's end blocks. */
async function listTar(volume: string, offset: number): Promise<string[]> {
  const child = spawn('tar', ['-tf', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const input = createReadStream(volume, { start: offset });
  input.pipe(child.stdin);
  // tar closes its input once it has read the end of the archive.
  child.stdin.on('error', () => undefined);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  input.destroy();
  if (code !== 0) throw new Error(`tar -tf failed (${code}): ${err}`);
  return out.split('\n').filter(Boolean);
}
