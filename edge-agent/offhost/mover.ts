import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { BackupTask, type BackupTaskResult, type OffhostFigures } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { StatusCode } from '#core/status-codes.ts';
import { runBackup } from '../image/backup.ts';
import type { EntrySource, EntrySourceHooks } from '../image/entry-source.ts';
import type { WalkEntry } from '../reader/walker.ts';
import { DeviceFileSource, RangeLog, type MoverCounts } from './device-source.ts';
import { MapHead, MapLine, statsOf, type MapEntry } from './extent-map.ts';

const run = promisify(execFile);

/**
 * What the agent gives the data mover (a JSON file, `cairn-agent mover
 * --job FILE`): the backup task, the extent map, and where the mover finds
 * the device and, for files that fall back, the frozen image.
 */
export const MoverJob = z
  .object({
    task: BackupTask,
    /** The extent map file (extent-map.ts). */
    map: z.string().min(1),
    /** The device as the mover's host names it (default: the map's). */
    device: z.string().min(1).optional(),
    /** The frozen image mounted read-only on the mover's host, for files whose data is not in plain extents. */
    fallbackRoot: z.string().startsWith('/').optional(),
    /** Where to write the device ranges read (JSON), for tests and audits. */
    rangesOut: z.string().min(1).optional(),
  })
  .strict();
export type MoverJob = z.input<typeof MoverJob>;

export interface MoverDeps {
  store: ObjectStore;
  openStore?: StorageUnitOpener;
  reporter: TaskReporter;
  now: () => Date;
  signal?: AbortSignal;
}

/**
 * The data mover (NetBackup's offhost data mover): reads the files of an
 * extent map from the device and writes them as an image through the same
 * image writer as a file-level backup (`runBackup` with the map as its
 * entry source), so the fragments, index and manifest are the same format
 * and `cairn restore` restores them. Outcomes are runBackup's, plus 20 for
 * a map or job that does not parse or does not fit the device (nothing is
 * written then), and the result carries the offhost figures.
 */
export async function runMover(input: MoverJob, deps: MoverDeps): Promise<BackupTaskResult> {
  const job = MoverJob.parse(input);
  if (job.task.storageUnit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'the data mover writes to disk and S3 storage units; tape fragments go through a mounted drive');
  const head = await readHead(job.map);
  const device = job.device ?? head.device;
  const handle = await openDevice(device, head);
  const log = new RangeLog(job.rangesOut !== undefined);
  const counts: MoverCounts = { deviceFiles: 0, fallbackFiles: {} };
  try {
    const lines = new WeakMap<WalkEntry, MapEntry>();
    const files = new DeviceFileSource({ fd: handle.fd, lineOf: (entry) => lines.get(entry)!, fallbackRoot: job.fallbackRoot, log, counts });
    const entries: EntrySource = { files, entries: (hooks) => mapEntries(job.map, lines, hooks, job.fallbackRoot) };
    const result = await runBackup(job.task, { store: deps.store, openStore: deps.openStore, reporter: deps.reporter, now: deps.now, signal: deps.signal, entries });
    const fallbackFiles = Object.values(counts.fallbackFiles).reduce((sum, n) => sum + n, 0);
    const offhost: OffhostFigures = { deviceFiles: counts.deviceFiles, fallbackFiles, fallbackReasons: counts.fallbackFiles, deviceBytesRead: log.bytes, deviceReads: log.reads };
    return { ...result, offhost };
  } finally {
    await handle.close();
    if (job.rangesOut) await writeRanges(job.rangesOut, log);
  }
}

async function writeRanges(out: string, log: RangeLog): Promise<void> {
  const handle = await open(out, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify({ bytes: log.bytes, reads: log.reads, ranges: log.ranges }));
  } finally {
    await handle.close();
  }
}

function badMap(what: string, cause?: unknown): CairnError {
  return new CairnError(StatusCode.INVALID_COMMAND_USAGE, `extent map: ${what}`, cause === undefined ? {} : { cause });
}

async function readHead(map: string): Promise<MapHead> {
  for await (const line of createInterface({ input: createReadStream(map), crlfDelay: Infinity })) {
    try {
      return MapHead.parse(JSON.parse(line));
    } catch (error) {
      throw badMap(`${map} does not start with a map head: ${error instanceof Error ? error.message : String(error)}`, error);
    }
  }
  throw badMap(`${map} is empty`);
}

/**
 * Opens the device read-only and checks it is as big as the one mapped (a
 * device of another size is another device). The block device's clean
 * cached pages are dropped first (`blockdev --flushbufs`): the file system
 * wrote the files' data past that cache, which may still hold what the
 * blocks held before.
 */
async function openDevice(device: string, head: MapHead): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(device, 'r');
  } catch (error) {
    throw new CairnError(StatusCode.SNAPSHOT_ERROR, `the data mover cannot open the device ${device}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (stats.isBlockDevice()) {
      await run('blockdev', ['--flushbufs', device]);
      const { stdout } = await run('blockdev', ['--getsize64', device]);
      const bytes = Number(stdout.trim());
      if (bytes !== head.deviceBytes) throw new CairnError(StatusCode.SNAPSHOT_ERROR, `the device ${device} holds ${bytes} bytes, the mapped one ${head.deviceBytes}: not the same device`);
    } else if (!stats.isFile() || stats.size !== head.deviceBytes) {
      throw new CairnError(StatusCode.SNAPSHOT_ERROR, `${device} is not a block device (or an image file) of the ${head.deviceBytes} bytes mapped`);
    }
    return handle;
  } catch (error) {
    await handle.close();
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.SNAPSHOT_ERROR, `the data mover cannot use the device ${device}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * The map's entries as walk entries, streamed; problems and the excluded
 * count go to the hooks. A line that does not parse, or a file whose ranges
 * are out of order or past its size, ends the backup with 20 (a forged or
 * damaged map must not make the mover read elsewhere).
 */
async function* mapEntries(map: string, lines: WeakMap<WalkEntry, MapEntry>, hooks: EntrySourceHooks, fallbackRoot: string | undefined): AsyncGenerator<WalkEntry, void, undefined> {
  let number = 0;
  for await (const text of createInterface({ input: createReadStream(map), crlfDelay: Infinity })) {
    number += 1;
    if (number === 1 || text === '') continue;
    let line: MapLine;
    try {
      line = MapLine.parse(JSON.parse(text));
    } catch (error) {
      throw badMap(`line ${number} does not parse: ${error instanceof Error ? error.message : String(error)}`, error);
    }
    if (line.kind === 'problem') hooks.onProblem(line.path, line.reason);
    else if (line.kind === 'excluded') hooks.onExcluded(line.count);
    else if (line.kind === 'note') hooks.onNote(line.reason);
    else {
      const stats = statsOf(line.stats);
      checkRanges(line, Number(stats.size), number);
      // The source path is the file in the mover's mount of the image when it has one; nothing opens it but a fallback read.
      const entry: WalkEntry = { path: line.path, sourcePath: fallbackRoot === undefined ? line.path : path.join(fallbackRoot, line.relative), stats };
      lines.set(entry, line);
      yield entry;
    }
  }
}

function checkRanges(line: MapEntry, size: number, number: number): void {
  let end = 0;
  for (const range of line.ranges ?? []) {
    if (range.fileOffset < end || range.fileOffset + range.bytes > size) throw badMap(`line ${number} (${line.path}): ranges out of order, overlapping or past the file's ${size} bytes`);
    end = range.fileOffset + range.bytes;
  }
  if (line.ranges && line.fallback !== undefined) throw badMap(`line ${number} (${line.path}): both ranges and a fallback`);
}

/** Reads a mover job file (JSON). */
export async function readMoverJob(file: string): Promise<z.output<typeof MoverJob>> {
  try {
    return MoverJob.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `mover job ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
