import { existsSync, fstatSync, mkdirSync, openSync, closeSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { excludeMatcher } from '#agent/reader/exclude.ts';
import { copyFileContent, openWalkedFile, UnreadableFileError } from '#agent/reader/file-reader.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { statSelections, walk } from '#agent/reader/walker.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, failureOf, InstrumentedStore, patterned, recordingReporter, tempDir } from './helpers.ts';

/** A file every process, root included, is refused reading: the kernel checks its mode itself. */
const WRITE_ONLY_PROC_FILE = '/proc/sys/vm/drop_caches';
const unreadableForAll = ((): string | undefined => {
  if (!existsSync(WRITE_ONLY_PROC_FILE)) return `${WRITE_ONLY_PROC_FILE} is missing (not Linux?)`;
  try {
    closeSync(openSync(WRITE_ONLY_PROC_FILE, 'r'));
    return `${WRITE_ONLY_PROC_FILE} is readable here`;
  } catch {
    return undefined;
  }
})();

describe('backup outcomes other than success', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let store: FsObjectStore;

  beforeEach(() => {
    source = tempDir('src');
    unit = tempDir('unit');
    store = new FsObjectStore(unit.dir);
    writeFileSync(path.join(source.dir, 'a.txt'), 'a\n');
    writeFileSync(path.join(source.dir, 'big.bin'), patterned(3 * 1024 * 1024, 3));
    writeFileSync(path.join(source.dir, 'z.txt'), 'z\n');
  });

  afterEach(() => {
    source.cleanup();
    unit.cleanup();
  });

  it('fails with status 71 and writes nothing when none of the selections exist', async () => {
    const task = backupTask(unit.dir, [path.join(source.dir, 'nope'), '/no/such/path']);
    const failure = await failureOf(runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.NONE_OF_THE_FILES_EXIST);
    expect(failure.details).toEqual([`${path.join(source.dir, 'nope')}: does not exist (ENOENT)`, '/no/such/path: does not exist (ENOENT)']);
    expect(readdirSync(unit.dir)).toEqual([]);
  });

  it('rejects a relative selection as invalid usage', async () => {
    const failure = await failureOf(runBackup(backupTask(unit.dir, ['relative/path']), { store, reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
  });

  it('ends with status 1 and lists a selection that does not exist, keeping the rest', async () => {
    const result = await runBackup(backupTask(unit.dir, [source.dir, '/no/such/path']), { store, reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(1);
    expect(result.unreadable).toEqual(['/no/such/path: does not exist (ENOENT)']);
    expect(result.fileCount).toBe(4);
  });

  it.skipIf(Boolean(unreadableForAll))(`skips a file it may not read, lists it and ends with status 1 (${unreadableForAll ?? WRITE_ONLY_PROC_FILE})`, async () => {
    // Prepare: chmod 000 does not stop root, a write-only /proc/sys file stops everyone.
    const task = backupTask(unit.dir, [source.dir, WRITE_ONLY_PROC_FILE]);

    // Act
    const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });

    // Assess: listed, not in the image, and the image restores.
    expect(result.statusCode).toBe(1);
    expect(result.unreadableCount).toBe(1);
    expect(result.unreadable).toEqual([`${WRITE_ONLY_PROC_FILE}: permission denied (EACCES)`]);
    const target = tempDir('target');
    try {
      const restored = await restoreImage({ store, image: catalogImage(task, result), targetDir: target.dir });
      expect(restored.files).toBe(4);
      expect(existsSync(path.join(target.dir, WRITE_ONLY_PROC_FILE))).toBe(false);
    } finally {
      target.cleanup();
    }
  });

  it.skipIf(!existsSync('/proc/self/status'))('keeps a file that grew while being read, cut to its header size, and lists it as changed', async () => {
    // /proc files stat as 0 bytes and then read as more: a real file that "grows" between stat and read.
    const result = await runBackup(backupTask(unit.dir, ['/proc/self/status']), { store, reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(1);
    expect(result.fileCount).toBe(1);
    // It grows on every read, so it is read MAX_FILE_READS times and its last copy kept as inconsistent.
    expect(result.unreadable).toEqual(['/proc/self/status: changed during backup: grew beyond 0 bytes; stored the first 0 (read 3 times); its last copy is kept but never restored as good']);
  });

  it('fails with status 84, the store error as cause, and removes what it wrote when the store fails', async () => {
    // Prepare: the second fragment's upload dies on its third chunk.
    const instrumented = new InstrumentedStore(store);
    const broken = new Error('disk unit went away');
    instrumented.beforeChunk = (key, index) => {
      if (key.endsWith('fragment-00002.tar') && index === 2) throw broken;
    };
    const task = backupTask(unit.dir, [source.dir]);
    writeFileSync(path.join(source.dir, 'big2.bin'), patterned(2 * 1024 * 1024, 4));

    // Act
    const failure = await failureOf(runBackup(task, { store: instrumented, reporter: recordingReporter(), now: () => new Date() }));

    // Assess
    expect(failure.statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect(failure.cause).toBe(broken);
    expect(instrumented.completed).toContain('images/host1/host1_1700000000/fragment-00001.tar');
    expect(await store.list('')).toEqual([]);
  });

  it('fails with status 84 when the index cannot be written', async () => {
    const instrumented = new InstrumentedStore(store);
    instrumented.failPut = (key) => (key.endsWith('index.ndjson.gz') ? new Error('no space left on device') : undefined);
    const failure = await failureOf(runBackup(backupTask(unit.dir, [source.dir]), { store: instrumented, reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect((failure.cause as Error).message).toBe('no space left on device');
    expect(await store.list('')).toEqual([]);
  });

  it('fails with status 84 when the manifest cannot be written, leaving no fragment or index', async () => {
    const instrumented = new InstrumentedStore(store);
    instrumented.failPut = (key) => (key.endsWith('manifest.json') ? new Error('quota exceeded') : undefined);
    const failure = await failureOf(runBackup(backupTask(unit.dir, [source.dir]), { store: instrumented, reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect((failure.cause as Error).message).toBe('quota exceeded');
    expect(await store.list('')).toEqual([]);
  });

  it('stops with status 150 when the administrator aborts, leaving nothing behind', async () => {
    const instrumented = new InstrumentedStore(store);
    const controller = new AbortController();
    instrumented.beforeChunk = (key, index) => {
      if (key.endsWith('fragment-00001.tar') && index === 3) controller.abort();
    };
    const failure = await failureOf(runBackup(backupTask(unit.dir, [source.dir]), { store: instrumented, reporter: recordingReporter(), now: () => new Date(), signal: controller.signal }));
    expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect(await store.list('')).toEqual([]);
  });

  it('stops with status 41 when the workflow no longer takes heartbeats', async () => {
    const reporter = { progress: async () => undefined, heartbeat: async () => Promise.reject(new Error('TaskTimedOut')) };
    const failure = await failureOf(runBackup(backupTask(unit.dir, [source.dir]), { store, reporter, now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.NETWORK_TIMEOUT);
    expect((failure.cause as Error).message).toBe('TaskTimedOut');
    expect(await store.list('')).toEqual([]);
  });

  it('reports progress about once a second while the media is slow, and once more at the end', async () => {
    const instrumented = new InstrumentedStore(store);
    instrumented.beforeChunk = () => sleep(40);
    const reporter = recordingReporter();
    const started = Date.now();
    const result = await runBackup(backupTask(unit.dir, [source.dir]), { store: instrumented, reporter, now: () => new Date() });
    const elapsedSeconds = (Date.now() - started) / 1000;
    expect(elapsedSeconds).toBeGreaterThan(1.5);
    expect(reporter.progressCalls.length).toBeGreaterThanOrEqual(2);
    expect(reporter.progressCalls.length).toBeLessThanOrEqual(Math.ceil(elapsedSeconds) + 1);
    expect(reporter.progressCalls.at(-1)).toMatchObject({ files: result.fileCount, bytes: result.bytes });
    // The media was the bottleneck: the reader waited for empty buffers.
    expect(result.readerWaits).toBeGreaterThan(0);
  });
});

describe('files that change under the reader', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir('changing');
  });
  afterEach(() => {
    dir.cleanup();
  });

  it('walk reports a file that vanished between listing its directory and reaching it', async () => {
    for (const name of ['a', 'b', 'c']) writeFileSync(path.join(dir.dir, name), name);
    const problems: string[] = [];
    const seen: string[] = [];
    const { roots } = await statSelections([dir.dir], excludeMatcher([]));
    for await (const entry of walk(roots, { exclude: excludeMatcher([]), statAhead: 1, onProblem: (p, reason) => problems.push(`${p}: ${reason}`) })) {
      seen.push(path.basename(entry.path));
      if (entry.path.endsWith('/a')) rmSync(path.join(dir.dir, 'b'));
    }
    expect(seen).toEqual([path.basename(dir.dir), 'a', 'c']);
    expect(problems).toEqual([`${dir.dir}/b: vanished during backup (ENOENT)`]);
  });

  it("walks the same entries in the same order with the reader thread's batched lstats, problems included", async () => {
    // Prepare: more children than a batch, a nested directory, a symlink, an excluded name, and a file removed mid-walk
    for (let i = 0; i < 7; i++) writeFileSync(path.join(dir.dir, `f${i}`), `${i}`);
    mkdirSync(path.join(dir.dir, 'sub'));
    for (const name of ['x', 'y', 'skip.tmp']) writeFileSync(path.join(dir.dir, 'sub', name), name);
    symlinkSync('f0', path.join(dir.dir, 'link'));
    const walkWith = async (lstatHook: ReaderThread['lstat'] | undefined): Promise<string[]> => {
      writeFileSync(path.join(dir.dir, 'f6'), '6');
      const seen: string[] = [];
      const { roots } = await statSelections([dir.dir], excludeMatcher([]));
      const hooks = { exclude: excludeMatcher(['*.tmp']), statAhead: 2, onProblem: (p: string, reason: string) => seen.push(`problem ${p}: ${reason}`), onExcluded: (p: string) => seen.push(`excluded ${p}`) };
      for await (const entry of walk(roots, lstatHook ? { ...hooks, lstat: lstatHook } : hooks)) {
        seen.push(`${entry.path} ${entry.stats.isDirectory() ? 'd' : entry.stats.isSymbolicLink() ? 'l' : 'f'} ${entry.stats.ino}`);
        if (entry.path.endsWith('/f3')) rmSync(path.join(dir.dir, 'f6'));
      }
      return seen;
    };
    const reader = new ReaderThread();

    // Act
    const threaded = await walkWith((paths) => reader.lstat(paths)).finally(() => reader.close());
    const plain = await walkWith(undefined);

    // Assess
    expect(threaded).toEqual(plain);
    expect(plain).toContain(`problem ${dir.dir}/f6: vanished during backup (ENOENT)`);
    expect(plain).toContain(`excluded ${dir.dir}/sub/skip.tmp`);
    expect(plain.filter((line) => !line.startsWith('problem') && !line.startsWith('excluded'))).toHaveLength(1 + 6 + 1 + 1 + 2);
  });

  it('selections are backed up once, even when one lies inside another', async () => {
    writeFileSync(path.join(dir.dir, 'a'), 'a');
    const { roots, missing } = await statSelections([`${dir.dir}/a`, dir.dir, `${dir.dir}/`, `${dir.dir}/gone`], excludeMatcher([]));
    expect(roots.map((r) => r.path)).toEqual([dir.dir]);
    expect(missing).toEqual([]);
  });

  it('a file that vanished before it was opened is unreadable, not an error', async () => {
    const file = path.join(dir.dir, 'gone');
    writeFileSync(file, 'x');
    const walked = await lstat(file, { bigint: true });
    rmSync(file);
    await expect(openWalkedFile(file, walked)).rejects.toThrow(UnreadableFileError);
    await expect(openWalkedFile(file, walked)).rejects.toMatchObject({ reason: 'vanished during backup (ENOENT)' });
  });

  it('a file replaced by another since the walk is unreadable', async () => {
    const file = path.join(dir.dir, 'swapped');
    writeFileSync(file, 'x');
    const walked = await lstat(file, { bigint: true });
    rmSync(file);
    mkdirSync(path.join(dir.dir, 'keep-inode-busy'));
    writeFileSync(path.join(dir.dir, 'other'), 'y');
    writeFileSync(file, 'new');
    const now = await lstat(file, { bigint: true });
    if (now.ino === walked.ino) return; // the file system reused the inode; nothing to tell apart
    await expect(openWalkedFile(file, walked)).rejects.toMatchObject({ reason: 'replaced during backup' });
  });

  it('a file shorter than its header size is zero-filled, one longer is cut, and both say so', async () => {
    const file = path.join(dir.dir, 'f');
    writeFileSync(file, Buffer.alloc(1000, 7));
    const fd = openSync(file, 'r');
    try {
      const written: Buffer[] = [];
      const write = async (chunk: Uint8Array): Promise<void> => void written.push(Buffer.from(chunk));

      const shrank = await copyFileContent(fd, 1500, write, { chunkBytes: 256 });
      const stored = Buffer.concat(written.splice(0));
      expect(stored.length).toBe(1500);
      expect(stored.subarray(0, 1000).every((b) => b === 7) && stored.subarray(1000).every((b) => b === 0)).toBe(true);
      expect(shrank.problem).toBe('changed during backup: shrank from 1500 to 1000 bytes; stored zeros from there');

      const grew = await copyFileContent(fd, 600, write, { chunkBytes: 256 });
      expect(Buffer.concat(written.splice(0)).length).toBe(600);
      expect(grew.problem).toBe('changed during backup: grew beyond 600 bytes; stored the first 600');

      const same = await copyFileContent(fd, 1000, write, { chunkBytes: 256, mtimeNs: fstatSync(fd, { bigint: true }).mtimeNs });
      expect(same.problem).toBeUndefined();
      expect(statSync(file).size).toBe(1000);
    } finally {
      closeSync(fd);
    }
  });
});

describe('exclude patterns', () => {
  it('match basenames and full paths with shell globs', () => {
    const excluded = excludeMatcher(['*.tmp', 'core', '/var/cache/**', '/home/*/.cache', 'file?.[ch]', '[!a]x']);
    expect(excluded('/a/b/c.tmp')).toBe(true);
    expect(excluded('/a/b/c.tmpx')).toBe(false);
    expect(excluded('/srv/core')).toBe(true);
    expect(excluded('/srv/cores')).toBe(false);
    expect(excluded('/var/cache/apt/archives/x.deb')).toBe(true);
    expect(excluded('/var/cache')).toBe(false);
    expect(excluded('/home/ann/.cache')).toBe(true);
    expect(excluded('/home/ann/sub/.cache')).toBe(false);
    expect(excluded('/src/file1.c')).toBe(true);
    expect(excluded('/src/file10.c')).toBe(false);
    expect(excluded('/bx')).toBe(true);
    expect(excluded('/ax')).toBe(false);
    expect(excludeMatcher([])('/anything')).toBe(false);
  });
});
