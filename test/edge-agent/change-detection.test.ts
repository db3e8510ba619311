import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, futimesSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { LARGE_FILE_BYTES } from '#agent/image/block-map.ts';
import { MAX_FILE_READS } from '#agent/reader/file-reader.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { BusyMeter } from '#agent/transport/busy-meter.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { INCONSISTENT_COPY, restoreImage } from '#agent/restore/restore.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupTaskResult, IndexEntry } from '#core/model/task.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { copy1, indexLines, keyOf } from './forge.ts';
import { backupTask, catalogImage, InstrumentedStore, recordingReporter, tempDir } from './helpers.ts';
import { bodyOf, LONG_VERSION_EXTRA, TRAILER_BYTES, versionIn, versionOf } from './self-describing-versions.ts';

/*
 * Change detection without a snapshot (docs/image-format.md, Files that
 * change while they are read): real files rewritten while a backup reads
 * them, by a writer process that never pauses, and by a store hook that
 * rewrites a file at a chosen moment of its read. Every version a writer
 * writes describes itself (self-describing-versions.ts), so a torn copy
 * shows whatever the writer did.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** The mtime the rewrites set back (seconds): only ctime tells those changes. */
const FIXED_MTIME = 1_700_000_000;
const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

const scratch: Array<ReturnType<typeof tempDir>> = [];
const writers: ChildProcess[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) await stop(writer);
  for (const dir of scratch.splice(0)) dir.cleanup();
});
function track(label: string): string {
  const dir = tempDir(label);
  scratch.push(dir);
  return dir.dir;
}

interface FileSpec {
  path: string;
  file: number;
  size: number;
  sameSize: boolean;
}

/** A complete version of `spec.size` bytes: body `variant`, generation `generation`. */
function versionFor(spec: FileSpec, variant: number, generation: number): Buffer {
  return versionOf(bodyOf(spec.file, variant, spec.size - TRAILER_BYTES), generation);
}

/** Writes generation 0 of each file (variant 0), with the fixed mtime for same-size ones. */
function writeFirstVersions(specs: readonly FileSpec[]): void {
  for (const spec of specs) {
    mkdirSync(path.dirname(spec.path), { recursive: true });
    writeFileSync(spec.path, versionFor(spec, 0, 0));
    if (spec.sameSize) utimesSync(spec.path, FIXED_MTIME, FIXED_MTIME);
  }
}

/** Starts the writer process on `specs`; resolves once it is rewriting them. */
async function startWriter(specs: readonly FileSpec[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./rewriting-writer-child.ts', import.meta.url)), JSON.stringify(specs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  writers.push(child);
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => void (errors += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready: ${errors}`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Every fragment of the image extracted by GNU tar, in order, into `dir`. */
function gnuExtract(unit: string, image: Image, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const fragment of copy1(image).fragments) execFileSync('tar', ['-xf', path.join(unit, keyOf(fragment)), '-C', dir]);
}

/** What GNU tar extracted for a client path: the file, or its pieces (GNUFileParts/<base>.<k>) joined in order. */
function gnuContent(dir: string, clientPath: string): Buffer {
  const whole = path.join(dir, clientPath);
  const parts = path.join(path.dirname(whole), 'GNUFileParts');
  const base = path.basename(whole);
  const pieces = existsSync(parts) ? readdirSync(parts).filter((name) => name.startsWith(`${base}.`)) : [];
  if (pieces.length === 0) return readFileSync(whole);
  pieces.sort((a, b) => Number(a.slice(base.length + 1)) - Number(b.slice(base.length + 1)));
  return Buffer.concat(pieces.map((name) => readFileSync(path.join(parts, name))));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The lines of one path, in index order. */
function linesOf(lines: readonly IndexEntry[], file: string): IndexEntry[] {
  return lines.filter((line) => line.path === file);
}

/**
 * A superseded copy is always followed by the file read again; only the
 * last line of a path may be `inconsistent`; at most MAX_FILE_READS copies.
 */
function expectCopiesWellFormed(lines: readonly IndexEntry[], file: string): void {
  const copies = linesOf(lines, file);
  expect(copies.length, file).toBeGreaterThanOrEqual(1);
  expect(copies.length, file).toBeLessThanOrEqual(MAX_FILE_READS);
  copies.slice(0, -1).forEach((line) => expect(line.changed, file).toBe('superseded'));
  expect(copies.at(-1)!.changed, file).not.toBe('superseded');
  expect(copies.every((line) => line.blockMap === undefined || line.changed === undefined), `${file}: no block map for a changed copy`).toBe(true);
}

describe('change detection without a snapshot', () => {
  it.skipIf(!hasGnuTar)('a writer rewriting files without pause: each file is one complete version in the image, or listed as changed with status 1', async () => {
    // Prepare: small, medium (streamed) and large (by blocks, in pieces) files; half keep their size and mtime.
    const source = track('cd-src');
    const unit = track('cd-unit');
    const sizes = [100, 3000, 6 * KiB, 60 * KiB, 3 * MiB, LARGE_FILE_BYTES + MiB];
    const specs: FileSpec[] = sizes.flatMap((size, i) => [
      { path: path.join(source, `f${i}-same.bin`), file: 2 * i, size, sameSize: true },
      ...(size < LARGE_FILE_BYTES ? [{ path: path.join(source, `f${i}-resize.bin`), file: 2 * i + 1, size, sameSize: false }] : []),
    ]);
    writeFirstVersions(specs);
    // Two writers: files of one page in a tight loop of their own, so their few-microsecond reads meet rewrites too;
    // bigger ones in the other, each version synced (rewriting-writer-child.ts says why).
    const onePage = (spec: FileSpec): boolean => spec.size + LONG_VERSION_EXTRA <= 4096;
    const writing = await Promise.all([startWriter(specs.filter(onePage)), startWriter(specs.filter((spec) => !onePage(spec)))]);
    const store = new FsObjectStore(unit);
    const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: MiB, pieceBytes: 8 * MiB } });

    // Act
    const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
    for (const writer of writing) await stop(writer);
    const image = catalogImage(task, result);
    const target = path.join(track('cd-dst'), 'target');
    const restored = await restoreImage({ store, image, targetDir: target });
    const gnu = path.join(track('cd-gnu'), 'x');
    gnuExtract(unit, image, gnu);

    // Assess
    const lines = await indexLines(store, image);
    const inconsistent = specs.filter((spec) => linesOf(lines, spec.path).at(-1)?.changed === 'inconsistent');
    for (const spec of specs) {
      expectCopiesWellFormed(lines, spec.path);
      const last = linesOf(lines, spec.path).at(-1)!;
      const listed = result.unreadable.filter((line) => line.startsWith(`${spec.path}: changed during backup`));
      if (last.changed === 'inconsistent') {
        // Listed as changed, never restored as good.
        expect(listed, spec.path).toHaveLength(1);
        expect(existsSync(path.join(target, spec.path)), spec.path).toBe(false);
        expect(restored.refused).toContain(`${spec.path.slice(1)}: ${INCONSISTENT_COPY}`);
        continue;
      }
      // Consistent: one complete version, in Cairn's restore and in GNU tar's extraction of the raw fragments alike.
      expect(listed, spec.path).toEqual([]);
      const content = readFileSync(path.join(target, spec.path));
      expect(versionIn(content), spec.path).toHaveProperty('generation');
      expect(sha256(content)).toBe(last.sha256);
      expect(gnuContent(gnu, spec.path).equals(content), `${spec.path} by GNU tar`).toBe(true);
    }
    expect(result.statusCode).toBe(inconsistent.length > 0 ? 1 : 0);
    expect(result.unreadable).toHaveLength(inconsistent.length);
    expect(restored.refused).toHaveLength(inconsistent.length);
    expect(restored.failures).toEqual([]);
    // The writer did change files while they were read (else this test shows nothing).
    expect(lines.some((line) => line.changed !== undefined)).toBe(true);
  }, 60_000);

  it('a small file read whole on the reader thread is read again there when it changed, before any of it is handed on', async () => {
    // Prepare: small files rewritten in a tight loop by the writer, one of them shrinking and growing. Every version
    // fits in one page, so no write is ever paused half done (see docs/image-format.md for what stats cannot see).
    const source = track('cd0-src');
    const specs: FileSpec[] = [
      { path: path.join(source, 'same.bin'), file: 1, size: 3000, sameSize: true },
      { path: path.join(source, 'resize.bin'), file: 2, size: 3000, sameSize: false },
    ];
    writeFirstVersions(specs);
    await startWriter(specs);
    const reader = new ReaderThread();
    const copies: Array<{ reads: number; changed: boolean; torn?: string }> = [];

    // Act: read each file many times, as the backup does (first chunk of 64 KiB, so each is read whole there),
    // until some were read again (a few seconds at most).
    const until = Date.now() + 5000;
    try {
      for (let k = 0; k < 200 || (copies.filter((copy) => copy.reads > 1).length < 3 && Date.now() < until); k++) {
        const spec = specs[k % 2]!;
        const prepared = await reader.prepare(spec.path, lstatSync(spec.path, { bigint: true }), 64 * KiB, { read: new BusyMeter(), hash: new BusyMeter() });
        const chunks: Buffer[] = [];
        const copied = await prepared.copyTo(async (chunk) => void chunks.push(Buffer.from(chunk)));
        const content = Buffer.concat(chunks);
        const version = versionIn(content);
        copies.push({ reads: copied.reads ?? 1, changed: copied.changed === true, ...('torn' in version ? { torn: `${path.basename(spec.path)} ${version.torn}` } : {}) });
        expect(sha256(content)).toBe(copied.sha256);
        expect(Number(prepared.stats.size)).toBe(content.byteLength);
      }
    } finally {
      await reader.close();
    }

    // Assess: every copy not flagged as changed is one complete version; some were read again, none more than allowed.
    expect(copies.filter((copy) => !copy.changed && copy.torn !== undefined)).toEqual([]);
    expect(copies.filter((copy) => copy.reads > MAX_FILE_READS || (copy.changed && copy.reads !== MAX_FILE_READS))).toEqual([]);
    expect(copies.filter((copy) => copy.reads > 1).length, `copies read again, of ${copies.length}`).toBeGreaterThan(0);
  }, 60_000);

  it.skipIf(!hasGnuTar)('a file changed once while it is read (same size, mtime set back) is read again and ends good: status 0', async () => {
    // Prepare: a streamed file and a large one stored in pieces, each rewritten once, mid-read, by the store hook.
    const source = track('cd1-src');
    const unit = track('cd1-unit');
    const medium: FileSpec = { path: path.join(source, 'a-medium.bin'), file: 1, size: 3 * MiB, sameSize: true };
    const large: FileSpec = { path: path.join(source, 'b-large.bin'), file: 2, size: LARGE_FILE_BYTES + MiB, sameSize: true };
    writeFirstVersions([medium, large]);
    const next = new Map([medium, large].map((spec) => [spec.path, versionFor(spec, 1, 1)]));
    const store = new FsObjectStore(unit);
    const instrumented = new InstrumentedStore(store);
    // 64 KiB a chunk: the medium file's first copy is chunks 1..48, its second 49..96; the large one's first from about 97.
    const rewriteAt = new Map([
      [10, medium],
      [160, large],
    ]);
    let chunks = 0;
    instrumented.beforeChunk = () => {
      const spec = rewriteAt.get((chunks += 1));
      if (spec) rewriteInPlace(spec.path, next.get(spec.path)!);
    };
    // One fragment for all: a restore of one path then reads the spans of its good copy only (ranged reads).
    const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: 64 * MiB, pieceBytes: 4 * MiB } });

    // Act
    const result = await runBackup(task, { store: instrumented, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const target = path.join(track('cd1-dst'), 'target');
    const restored = await restoreImage({ store, image, targetDir: target });
    const gnu = path.join(track('cd1-gnu'), 'x');
    gnuExtract(unit, image, gnu);

    // Assess: two copies of each, the first superseded; the image restores the second, by Cairn and by GNU tar.
    expect(result.statusCode).toBe(0);
    expect(result.unreadable).toEqual([]);
    const lines = await indexLines(store, image);
    for (const spec of [medium, large]) {
      expect(linesOf(lines, spec.path).map((line) => line.changed ?? 'good'), spec.path).toEqual(['superseded', 'good']);
      expect(readFileSync(path.join(target, spec.path)).equals(next.get(spec.path)!), spec.path).toBe(true);
      expect(gnuContent(gnu, spec.path).equals(next.get(spec.path)!), `${spec.path} by GNU tar`).toBe(true);
    }
    expect(linesOf(lines, large.path)[1]!.pieces?.length).toBeGreaterThanOrEqual(1);
    expect(linesOf(lines, large.path)[1]!.blockMap).toBeDefined();
    expect(restored).toMatchObject({ refused: [], failures: [] });
    // A restore of one path reads only its spans: the good copy, never the superseded one.
    for (const spec of [medium, large]) {
      const one = path.join(track('cd1-one'), 'target');
      const selective = await restoreImage({ store, image, targetDir: one, paths: [spec.path] });
      expect(selective, spec.path).toMatchObject({ refused: [], failures: [], verified: 1 });
      expect(readFileSync(path.join(one, spec.path)).equals(next.get(spec.path)!), spec.path).toBe(true);
    }
  }, 60_000);

  it('a file that changes on every read is stored MAX_FILE_READS times, listed with status 1, refused by restore, and read again by the next incremental', async () => {
    // Prepare: a streamed file rewritten in the middle of each of its reads (one copy is 48 chunks of 64 KiB).
    const source = track('cd3-src');
    const unit = track('cd3-unit');
    const spec: FileSpec = { path: path.join(source, 'hot.bin'), file: 3, size: 3 * MiB, sameSize: true };
    writeFileSync(path.join(source, 'calm.txt'), 'calm\n');
    writeFirstVersions([spec]);
    const store = new FsObjectStore(unit);
    const instrumented = new InstrumentedStore(store);
    let chunks = 0;
    let generation = 0;
    instrumented.beforeChunk = () => {
      chunks += 1;
      if (chunks % 48 === 10 && generation < MAX_FILE_READS) rewriteInPlace(spec.path, versionFor(spec, (generation += 1) % 3, generation));
    };
    const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: MiB } });

    // Act
    const result = await runBackup(task, { store: instrumented, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const target = path.join(track('cd3-dst'), 'target');
    const restored = await restoreImage({ store, image, targetDir: target });
    const incremental = await backUpIncremental(unit, source, image);
    const pit = path.join(track('cd3-pit'), 'target');
    const rebuilt = await restorePointInTime({ image: incremental.image, targetDir: pit, openImage: async (backupId) => ({ image: backupId === image.backupId ? image : incremental.image, store }) });

    // Assess
    expect(result.statusCode).toBe(1);
    expect(result.unreadable).toEqual([`${spec.path}: changed during backup: modified while being read (read ${MAX_FILE_READS} times); its last copy is kept but never restored as good`]);
    const lines = await indexLines(store, image);
    expect(linesOf(lines, spec.path).map((line) => line.changed)).toEqual([...Array<string>(MAX_FILE_READS - 1).fill('superseded'), 'inconsistent']);
    expect(restored.refused).toEqual([`${spec.path.slice(1)}: ${INCONSISTENT_COPY}`]);
    expect(existsSync(path.join(target, spec.path))).toBe(false);
    expect(readFileSync(path.join(target, source, 'calm.txt'), 'utf8')).toBe('calm\n');
    // The incremental takes the calm file from the full image and reads the hot one again; together they rebuild the tree.
    expect(incremental.result.statusCode).toBe(0);
    const next = await indexLines(store, incremental.image);
    expect(next.find((line) => line.path === path.join(source, 'calm.txt'))?.fromBackupId).toBe(image.backupId);
    expect(next.filter((line) => line.path === spec.path).map((line) => ({ changed: line.changed, from: line.fromBackupId }))).toEqual([{ changed: undefined, from: undefined }]);
    expect(rebuilt.refused).toEqual([]);
    expect(readFileSync(path.join(pit, spec.path)).equals(readFileSync(spec.path))).toBe(true);
    expect(statSync(path.join(pit, source, 'calm.txt')).size).toBe(5);
  }, 60_000);
});

/** Rewrites a file in place with `version` (same size) and sets its mtime back: only its ctime moves. */
function rewriteInPlace(file: string, version: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, version, 0, version.byteLength, 0);
    futimesSync(fd, FIXED_MTIME, FIXED_MTIME);
  } finally {
    closeSync(fd);
  }
}

async function backUpIncremental(unit: string, source: string, base: Image): Promise<{ image: Image; result: BackupTaskResult }> {
  const store = new FsObjectStore(unit);
  const task = backupTask(unit, [source], {
    backupId: 'host1_1700000100',
    level: 'differential-incremental',
    base: { backupId: base.backupId, indexKey: copy1(base).indexKey, indexSha256: copy1(base).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: MiB } },
  });
  const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
  return { image: catalogImage(task, result), result };
}
