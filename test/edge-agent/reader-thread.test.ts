import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UnreadableFileError, type FileMeters } from '#agent/reader/file-reader.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { BusyMeter } from '#agent/transport/busy-meter.ts';
import { patterned, tempDir } from './helpers.ts';

function meters(): FileMeters {
  return { read: new BusyMeter(), hash: new BusyMeter() };
}

function collector(): { chunks: Buffer[]; write: (chunk: Uint8Array) => Promise<void>; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  // Copies: the thread's buffers are handed over, but a sink may not keep what it is given.
  return { chunks, write: async (chunk) => void chunks.push(Buffer.from(chunk)), bytes: () => Buffer.concat(chunks) };
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Descriptors this process has open: a file the thread forgot to close shows here. */
const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

describe('the reader thread', () => {
  let reader: ReaderThread;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => void (reader = new ReaderThread()));
  afterAll(async () => reader.close());
  beforeEach(() => void (dir = tempDir('reader-thread')));
  afterEach(() => dir.cleanup());

  it('reads a file in chunks byte for byte, with the sha256 of its content, its fstat and its read and hash time', async () => {
    // Prepare
    const file = path.join(dir.dir, 'f');
    const content = patterned(10_000, 3);
    writeFileSync(file, content);
    const walked = await lstat(file, { bigint: true });
    const m = meters();
    const out = collector();

    // Act
    const prepared = await reader.prepare(file, walked, 4096, m);
    const result = await prepared.copyTo(out.write);

    // Assess
    expect(out.bytes().equals(content)).toBe(true);
    expect(out.chunks.map((c) => c.length)).toEqual([4096, 4096, 1808]);
    expect(result).toEqual({ sha256: sha256(content) });
    expect(prepared.stats.size).toBe(10_000n);
    expect(prepared.stats.ino).toBe(walked.ino);
    expect(prepared.stats.mtimeNs).toBe(walked.mtimeNs);
    expect(m.read.ms).toBeGreaterThan(0);
    expect(m.hash.ms).toBeGreaterThan(0);
  });

  it('reads an empty file and one that fits in the first chunk', async () => {
    const empty = path.join(dir.dir, 'empty');
    const small = path.join(dir.dir, 'small');
    writeFileSync(empty, '');
    writeFileSync(small, 'hello');
    const a = collector();
    const b = collector();

    const emptyResult = await (await reader.prepare(empty, await lstat(empty, { bigint: true }), 4096, meters())).copyTo(a.write);
    const smallResult = await (await reader.prepare(small, await lstat(small, { bigint: true }), 4096, meters())).copyTo(b.write);

    expect(a.bytes().length).toBe(0);
    expect(emptyResult.sha256).toBe(sha256(Buffer.alloc(0)));
    expect(b.bytes().toString()).toBe('hello');
    expect(smallResult).toEqual({ sha256: sha256(Buffer.from('hello')) });
  });

  it('refuses a file that vanished, was replaced, or became a symlink since the walk, with the reader reasons', async () => {
    // Prepare
    const gone = path.join(dir.dir, 'gone');
    writeFileSync(gone, 'x');
    const goneWalked = await lstat(gone, { bigint: true });
    rmSync(gone);
    const swapped = path.join(dir.dir, 'swapped');
    writeFileSync(swapped, 'x');
    const swappedWalked = await lstat(swapped, { bigint: true });
    const linked = path.join(dir.dir, 'linked');
    writeFileSync(linked, 'x');
    const linkedWalked = await lstat(linked, { bigint: true });
    rmSync(linked);
    symlinkSync('/etc/hostname', linked);
    const aDirectory = path.join(dir.dir, 'was-a-file');
    writeFileSync(aDirectory, 'x');
    const aDirectoryWalked = await lstat(aDirectory, { bigint: true });
    rmSync(aDirectory);
    mkdirSync(aDirectory);

    // Act + Assess
    await expect(reader.prepare(gone, goneWalked, 4096, meters())).rejects.toThrow(UnreadableFileError);
    await expect(reader.prepare(gone, goneWalked, 4096, meters())).rejects.toMatchObject({ reason: 'vanished during backup (ENOENT)' });
    await expect(reader.prepare(swapped, { ...swappedWalked, ino: swappedWalked.ino + 1n }, 4096, meters())).rejects.toMatchObject({ reason: 'replaced during backup' });
    await expect(reader.prepare(linked, linkedWalked, 4096, meters())).rejects.toMatchObject({ reason: 'replaced by a symbolic link during backup (ELOOP)' });
    await expect(reader.prepare(aDirectory, aDirectoryWalked, 4096, meters())).rejects.toMatchObject({ reason: 'replaced during backup' });
  });

  it('zero-fills a file that shrank after it was opened, and says so; the sha256 is of the bytes stored', async () => {
    const file = path.join(dir.dir, 'shrinks');
    writeFileSync(file, patterned(10_000, 5));
    const prepared = await reader.prepare(file, await lstat(file, { bigint: true }), 4096, meters());
    truncateSync(file, 6000);
    const out = collector();

    const result = await prepared.copyTo(out.write);

    const stored = out.bytes();
    expect(stored.length).toBe(10_000);
    expect(stored.subarray(0, 6000).equals(patterned(10_000, 5).subarray(0, 6000))).toBe(true);
    expect(stored.subarray(6000).every((b) => b === 0)).toBe(true);
    expect(result.problem).toBe('changed during backup: shrank from 10000 to 6000 bytes; stored zeros from there');
    expect(result.sha256).toBe(sha256(stored));
  });

  it('ends a file that shrank while chunks beyond its new end were already asked for, and reads the next file as usual', async () => {
    const file = path.join(dir.dir, 'shrinks-ahead');
    writeFileSync(file, patterned(40_000, 7));
    const prepared = await reader.prepare(file, await lstat(file, { bigint: true }), 4096, meters());
    truncateSync(file, 4096);
    const out = collector();

    const result = await prepared.copyTo(out.write);

    const stored = out.bytes();
    expect(stored.length).toBe(40_000);
    expect(stored.subarray(4096).every((b) => b === 0)).toBe(true);
    expect(result.problem).toBe('changed during backup: shrank from 40000 to 4096 bytes; stored zeros from there');
    const next = path.join(dir.dir, 'after-shrink');
    writeFileSync(next, patterned(20_000, 8));
    const after = collector();
    await (await reader.prepare(next, await lstat(next, { bigint: true }), 4096, meters())).copyTo(after.write);
    expect(after.bytes().equals(patterned(20_000, 8))).toBe(true);
  });

  it('cuts a file that grew after it was opened at its header size, and says so', async () => {
    const file = path.join(dir.dir, 'grows');
    writeFileSync(file, patterned(10_000, 6));
    const prepared = await reader.prepare(file, await lstat(file, { bigint: true }), 4096, meters());
    appendFileSync(file, Buffer.alloc(500, 1));
    const out = collector();

    const result = await prepared.copyTo(out.write);

    expect(out.bytes().equals(patterned(10_000, 6))).toBe(true);
    expect(result.problem).toBe('changed during backup: grew beyond 10000 bytes; stored the first 10000');
  });

  it('notices a file modified in place while it was read (its mtime moved)', async () => {
    const file = path.join(dir.dir, 'touched');
    writeFileSync(file, patterned(10_000, 7));
    const prepared = await reader.prepare(file, await lstat(file, { bigint: true }), 4096, meters());
    utimesSync(file, new Date(), new Date(Date.now() + 60_000));

    const result = await prepared.copyTo(collector().write);

    expect(result.problem).toBe('changed during backup: modified while being read');
  });

  it('closes every file: read to the end, disposed before copying, or abandoned by an abort mid-copy', async () => {
    const file = path.join(dir.dir, 'big');
    writeFileSync(file, patterned(50_000, 8));
    const walked = await lstat(file, { bigint: true });
    const before = openDescriptors();

    await (await reader.prepare(file, walked, 4096, meters())).copyTo(collector().write);
    await (await reader.prepare(file, walked, 4096, meters())).dispose();
    const stop = new AbortController();
    const aborted = (await reader.prepare(file, walked, 4096, meters())).copyTo(async () => stop.abort(new Error('stop')), stop.signal);
    await expect(aborted).rejects.toThrow('stop');
    // One more round trip: the thread handles messages in order, so the closes above are done.
    await (await reader.prepare(file, walked, 65_536, meters())).copyTo(collector().write);

    expect(openDescriptors()).toBe(before);
  });

  it('keeps the process alive while a reply is awaited, even when nothing else does', () => {
    // Prepare: a process whose only pending work is a read on the thread (the progress ticker is unref'd too).
    const file = path.join(dir.dir, 'f');
    writeFileSync(file, 'hello');
    const script = [
      "import { lstatSync } from 'node:fs';",
      "import { ReaderThread } from '#agent/reader/reader-thread.ts';",
      "import { BusyMeter } from '#agent/transport/busy-meter.ts';",
      'const reader = new ReaderThread();',
      'const file = process.argv[1];',
      'const prepared = await reader.prepare(file, lstatSync(file, { bigint: true }), 4096, { read: new BusyMeter(), hash: new BusyMeter() });',
      'console.log((await prepared.copyTo(async () => undefined)).sha256);',
    ].join('\n');

    // Act: no close at the end either: an idle thread must not keep the process alive.
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file], { encoding: 'utf8', timeout: 30_000 });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(sha256(Buffer.from('hello')));
  });

  it('lstats a batch of paths as fs.lstat does: the same fields and type tests, symlinks not followed, errors with their code', async () => {
    // Prepare: a file, a directory, a symlink to the file, a missing path
    const file = path.join(dir.dir, 'f');
    writeFileSync(file, 'hello');
    utimesSync(file, new Date('1965-03-04T05:06:07.891Z'), new Date('1965-03-04T05:06:07.891Z'));
    mkdirSync(path.join(dir.dir, 'd'));
    symlinkSync(file, path.join(dir.dir, 'l'));
    const paths = ['f', 'd', 'l', 'missing'].map((name) => path.join(dir.dir, name));

    // Act
    const results = await reader.lstat(paths);

    // Assess
    expect(results).toHaveLength(4);
    for (const [i, p] of paths.slice(0, 3).entries()) {
      const expected = await lstat(p, { bigint: true });
      const got = (results[i] as { stats: typeof expected }).stats;
      for (const key of Object.keys(expected) as Array<keyof typeof expected>) expect([key, got[key]]).toEqual([key, expected[key]]);
      expect([got.isFile(), got.isDirectory(), got.isSymbolicLink()]).toEqual([expected.isFile(), expected.isDirectory(), expected.isSymbolicLink()]);
    }
    expect((results[3] as { error: NodeJS.ErrnoException }).error.code).toBe('ENOENT');
  });

  it('hashes large-file chunks: the whole content with zeros fed between, and each block, with chunks in flight together', async () => {
    // Prepare: blocks of 4 bytes; a chunk with a zero block, zeros, a chunk ending in a partial block
    const hash = meters().hash;
    const first = Buffer.from([1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8]);
    const last = Buffer.from([9, 9, 9, 9, 7]);
    const hasher = reader.blockHasher(4, hash);

    // Act: the second chunk is asked for before the first is answered; the caller's buffer is reused at once
    const hashesOf = [hasher.chunk(first), (hasher.zeros(8), hasher.chunk(last))];
    first.fill(0xff);
    const [a, b] = await Promise.all(hashesOf);
    const whole = await hasher.digest();

    // Assess
    const block = (bytes: number[]): Buffer => createHash('sha256').update(Buffer.from(bytes)).digest();
    expect(a).toEqual(Buffer.concat([block([1, 2, 3, 4]), block([0, 0, 0, 0]), block([5, 6, 7, 8])]));
    expect(b).toEqual(Buffer.concat([block([9, 9, 9, 9]), block([7])]));
    expect(whole).toBe(sha256(Buffer.from([1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 7])));
  });

  it('feeds chunks to the whole-content hash alone, mixed with chunks that also get block hashes, in order', async () => {
    // Prepare
    const hasher = reader.blockHasher(4, meters().hash);
    const first = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const second = Buffer.from([9, 9, 9, 9]);
    const third = Buffer.from([6, 5]);

    // Act: a feed, a chunk, a feed, asked for before any is answered; the first buffer is reused at once
    const fed = hasher.feed(first);
    first.fill(0xee);
    const blocks = hasher.chunk(second);
    const fedAgain = hasher.feed(third);
    await Promise.all([fed, fedAgain]);
    const whole = await hasher.digest();

    // Assess
    expect(await blocks).toEqual(createHash('sha256').update(second).digest());
    expect(whole).toBe(sha256(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 6, 5])));
  });

  it('fails requests once it is closed', async () => {
    const own = new ReaderThread();
    const file = path.join(dir.dir, 'f');
    writeFileSync(file, 'x');
    await own.close();
    await expect(own.prepare(file, await lstat(file, { bigint: true }), 4096, meters())).rejects.toThrow('the reader thread was closed');
  });
});
