import path from 'node:path';
import { CairnError, ValidationError } from '#core/errors.ts';
import { imageKeys } from '#core/ids.ts';
import { BackupTaskResult, type BackupTask, type IndexEntry } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { FragmentSinks } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { PRIMARY_COPY } from '#core/model/image.ts';
import { StatusCode } from '#core/status-codes.ts';
import { BufferPool } from '../transport/buffer-pool.ts';
import { DataPathMeters, metered } from '../transport/busy-meter.ts';
import { excludeMatcher } from '../reader/exclude.ts';
import { ImageWriter, type ImageWriterOptions } from './image-writer.ts';
import { objectStoreSinks } from './object-store-fragments.ts';
import { compressedAsConfigured, compressedKey } from '../codec/storage-unit-compression.ts';
import { encodeManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type ImageManifest } from './manifest.ts';
import { ProgressTicker } from '../transport/progress.ts';
import { readAhead } from '../reader/read-ahead.ts';
import { statSelections, walk } from '../reader/walker.ts';
import { readIndex } from './index-reader.ts';
import { chunkTableSha256 } from './index-chunks.ts';
import { selectionSources } from '#core/snapshot/snapshot-plan.ts';
import type { EntrySource } from './entry-source.ts';
import { expandAllSelection } from '../probe/probe.ts';

export interface BackupDeps {
  /** The storage unit of the copy: the index and manifest go here, and the fragments unless `sinks` says otherwise. */
  store: ObjectStore;
  /** Where the fragments go (default: objects in `store`, `images/<client>/<backupId>/fragment-NNNNN.tar`, `.tar.zst` when the unit compresses); compressed when the task's storage unit says so. */
  sinks?: FragmentSinks;
  /** Opens the storage unit an incremental's base image is in; given by the entry point, needed only for a task with a base. */
  openStore?: StorageUnitOpener;
  reporter: TaskReporter;
  now: () => Date;
  /** Aborting ends the backup with status 150 and removes what it wrote. */
  signal?: AbortSignal;
  /**
   * Where to read a selection's tree instead of the selection itself (a
   * snapshot mount), by selection; the image records the selection's names.
   */
  sourceRoots?: Readonly<Record<string, string>>;
  /**
   * How long a stopped backup waits for each upload to stop before it gives
   * up on it and ends (default 10 s, ABORT_GRACE_MS); tests shorten it.
   */
  abortGraceMs?: number;
  /**
   * Files of this size and above are stored by blocks (block-map.ts;
   * default LARGE_FILE_BYTES, 16 MiB). Tests of the block path lower it, so
   * their files are a few MiB rather than tens: the same code at a sixteenth
   * of the bytes.
   */
  largeFileBytes?: number;
  /**
   * The entries and their content from elsewhere than a walk of the
   * selections on this host (the offhost mover's extent map,
   * entry-source.ts); the selections are then only recorded.
   */
  entries?: EntrySource;
}

/**
 * Entries opened and read ahead of the one being packed. Bounds the memory
 * this takes to this many first chunks (each at most one data buffer). 32
 * rather than 16: refilled in bursts of half (read-ahead.ts), a burst of 16
 * small files a message kept the reader thread busier (a folder of 5,000
 * small files: about 750 ms instead of 925).
 */
const READ_AHEAD_ENTRIES = 32;

/** How many unreadable paths the result (and so the job record) carries; the manifest keeps more. */
const RESULT_UNREADABLE_LIMIT = 100;

/**
 * Backs up the task's selections into one image (its copy 1) in the storage
 * unit behind `deps.store`: fragments (tar archives, through the fragment
 * sinks), then the file index, then the manifest, each durable before the
 * next is written, so a manifest in the store means a complete image.
 *
 * Outcomes:
 * - resolves with statusCode 0, or 1 when some files could not be read or
 *   changed while being read (the image is kept and lists them);
 * - rejects with a CairnError: 71 when none of the selections exist (nothing
 *   is written), 84 when the store fails (cause: the store's error), 96 when
 *   a sink reaches end of media and there is no next one, 150 when
 *   `deps.signal` aborts, 41 when a heartbeat fails, 20 for a bad task.
 *   After a rejection nothing of the image is left in the store (best effort;
 *   objects that could not be removed are named in the error's details).
 */
export async function runBackup(given: BackupTask, deps: BackupDeps): Promise<BackupTaskResult> {
  const startedAt = deps.now();
  // `ALL` is expanded here, on the client, to its local file systems (edge-agent/probe/); the manifest lists what it became.
  const task = { ...given, selections: await expandAllSelection(given.selections) };
  checkSelections(task);
  if (deps.signal?.aborted) throw terminated(deps.signal.reason);
  const exclude = excludeMatcher(task.exclude);
  // The Snapshot step's images: each selection is read inside the image that covers it, and recorded under its own name.
  const sourceRoots = deps.sourceRoots ?? selectionSources(task.selections, task.snapshots?.images ?? []);
  const { roots, missing, excluded } = deps.entries ? { roots: [], missing: [], excluded: [] } : await findRoots(task, exclude, sourceRoots);
  const run = await startImage(task, deps);
  try {
    for (const m of missing) run.writer.unreadable(m.path, m.reason);
    run.writer.counts.excluded += excluded.length;
    run.ticker.start();
    await packTree(run, roots, exclude, task.crossMountPoints === true, deps.entries);
    const image = await run.writer.finish();
    const completedAt = deps.now();
    const manifest = describeImage(task, run, image, { startedAt, completedAt });
    const result = resultOf(task, run, manifest, { startedAt, completedAt });
    await publishManifest(deps, run, manifest);
    return result;
  } catch (error) {
    throw await discardFailedImage(task, run, error);
  } finally {
    run.detach();
  }
}

/** Selections are absolute client paths; anything else is a bad task (20), refused before anything is read. */
function checkSelections(task: BackupTask): void {
  const relative = task.selections.filter((s) => !path.isAbsolute(s));
  if (relative.length > 0) throw new ValidationError('invalid backup selections', relative.map((s) => `${s}: a selection is an absolute path`));
}

/**
 * The selections that exist and are not excluded, each read from its source
 * root when one is given; 71 when there are none (nothing is written then).
 */
async function findRoots(task: BackupTask, exclude: ReturnType<typeof excludeMatcher>, sourceRoots: BackupDeps['sourceRoots']): Promise<Awaited<ReturnType<typeof statSelections>>> {
  const selections = task.selections.map((s) => (sourceRoots?.[s] === undefined ? s : { path: s, sourceRoot: sourceRoots[s] }));
  const found = await statSelections(selections, exclude);
  if (found.roots.length === 0) {
    throw new CairnError(StatusCode.NONE_OF_THE_FILES_EXIST, 'none of the files in the file list exist', {
      details: [...found.missing.map((m) => `${m.path}: ${m.reason}`), ...found.excluded.map((p) => `${p}: excluded`)],
    });
  }
  return found;
}

/** What a backup in progress holds: its buffers, its writer, its progress ticker and the one signal that stops it. */
interface ImageRun {
  pool: BufferPool;
  /** Where the time goes, for the bottleneck verdict. */
  meters: DataPathMeters;
  writer: ImageWriter;
  ticker: ProgressTicker;
  stop: AbortController;
  /** Stops listening to the caller's signal. */
  detach: () => void;
}

/** Sets up the writer (with the base index for an incremental), the progress ticker and the stop signal. */
async function startImage(task: BackupTask, deps: BackupDeps): Promise<ImageRun> {
  const pool = new BufferPool(task.buffers);
  // One signal for every reason to stop: the administrator, or a lost workflow.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(terminated(deps.signal?.reason));
  deps.signal?.addEventListener('abort', onAbort, { once: true });
  const detach = (): void => deps.signal?.removeEventListener('abort', onAbort);
  let base: ImageWriterOptions['base'];
  try {
    base = task.base ? { backupId: task.base.backupId, ...(await loadBaseIndex(task.base, deps.openStore ?? noOpener)) } : undefined;
  } catch (error) {
    detach();
    throw error;
  }
  const meters = new DataPathMeters(pool);
  const sinks = compressedAsConfigured(task.storageUnit.compression, deps.sinks ?? objectStoreSinks(deps.store, fragmentKeys(task)));
  const writer = new ImageWriter({ store: deps.store, sinks, backupId: task.backupId, pool, fragmentSizeBytes: task.storageUnit.fragmentSizeBytes, pieceBytes: task.storageUnit.pieceBytes, signal: stop.signal, base, abortGraceMs: deps.abortGraceMs, largeFileBytes: deps.largeFileBytes, meters, ...(deps.entries ? { files: deps.entries.files } : {}) });
  // Stop the uploads at once, rather than when the reader next checks the signal.
  stop.signal.addEventListener('abort', () => void writer.abort(stop.signal.reason), { once: true });
  const ticker = new ProgressTicker({
    reporter: deps.reporter,
    now: deps.now,
    snapshot: () => ({ files: writer.fileCount, bytes: writer.bytes, writerWaits: pool.writerWaits, readerWaits: pool.readerWaits, currentPath: writer.currentPath, times: meters.times() }),
    onHeartbeatFailure: (error) => stop.abort(new CairnError(StatusCode.NETWORK_TIMEOUT, 'the job workflow no longer accepts heartbeats from this agent', { cause: error })),
  });
  return { pool, meters, writer, ticker, stop, detach };
}

/** Fragment `n`'s object key: `fragment-NNNNN.tar`, or `.tar.zst` on a unit that compresses (what `zstd -dc` expects). */
function fragmentKeys(task: BackupTask): (n: number) => string {
  const plain = imageKeys(task.backupId).fragment;
  return (n) => compressedKey(task.storageUnit.compression, plain(n));
}

/** Walks the roots (or takes the entry source's entries) and packs every entry, reading a few entries ahead; stops as soon as the stop signal fires. */
async function packTree(run: ImageRun, roots: Awaited<ReturnType<typeof statSelections>>['roots'], exclude: ReturnType<typeof excludeMatcher>, crossMountPoints: boolean, source?: EntrySource): Promise<void> {
  const { writer, stop, meters } = run;
  const hooks = { exclude, crossMountPoints, onProblem: (p: string, reason: string) => writer.unreadable(p, reason), onExcluded: () => void (writer.counts.excluded += 1), lstat: (paths: string[]) => writer.lstat(paths), onListed: (dir: string, names: readonly string[]) => writer.listed(dir, names), onSubdirectories: (dirs: readonly string[]) => writer.subdirectories(dirs) };
  // The walk and the read-ahead are the reader's file-system work: they count as its busy time.
  const walked = metered(source ? source.entries({ onProblem: hooks.onProblem, onExcluded: (count) => void (writer.counts.excluded += count), onNote: (line) => writer.problems.addLine(line) }) : walk(roots, hooks), meters.read);
  const prepared = readAhead(walked, (entry) => meters.read.track(() => writer.prepare(entry)), (p) => writer.dispose(p), READ_AHEAD_ENTRIES, () => writer.flushReads());
  for await (const entry of prepared) {
    stop.signal.throwIfAborted();
    await writer.add(entry);
  }
  stop.signal.throwIfAborted();
}

type FinishedImage = Awaited<ReturnType<ImageWriter['finish']>>;
interface RunTimes {
  startedAt: Date;
  completedAt: Date;
}

/** The manifest of the finished copy: everything restore needs, checked against the schema. */
function describeImage(task: BackupTask, run: ImageRun, image: FinishedImage, times: RunTimes): ImageManifest {
  const { writer, pool } = run;
  return {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    backupId: task.backupId,
    copyNumber: PRIMARY_COPY,
    jobId: task.jobId,
    client: task.client,
    policy: task.policy,
    schedule: task.schedule,
    level: task.level,
    storageUnit: task.storageUnit.name,
    createdAt: times.startedAt.toISOString(),
    completedAt: times.completedAt.toISOString(),
    statusCode: writer.problems.count > 0 ? 1 : 0,
    selections: task.selections,
    exclude: task.exclude,
    fragmentSizeBytes: task.storageUnit.fragmentSizeBytes,
    fragments: image.fragments,
    fileCount: image.indexEntries,
    bytes: image.fragments.reduce((sum, f) => sum + f.bytes, 0),
    dataBytes: writer.dataBytes,
    indexKey: image.indexKey,
    indexSha256: image.indexSha256,
    indexEntries: image.indexEntries,
    ...(image.indexChunks ? { indexChunks: image.indexChunks } : {}),
    baseBackupId: task.base?.backupId,
    unreadable: writer.problems.first(),
    unreadableCount: writer.problems.count,
    counts: { ...writer.counts },
    buffers: { count: pool.count, sizeBytes: pool.sizeBytes, writerWaits: pool.writerWaits, readerWaits: pool.readerWaits },
  };
}

/**
 * What the agent reports. Built (and so validated) before the manifest goes
 * out: once the manifest is in the store the image is complete and must
 * not be removed, so everything that can fail comes first.
 */
function resultOf(task: BackupTask, run: ImageRun, manifest: ImageManifest, times: RunTimes): BackupTaskResult {
  const { writer, pool, meters } = run;
  return BackupTaskResult.parse({
    backupId: task.backupId,
    statusCode: manifest.statusCode,
    fragments: manifest.fragments,
    fileCount: manifest.fileCount,
    bytes: manifest.bytes,
    indexKey: manifest.indexKey,
    indexSha256: manifest.indexSha256,
    ...(manifest.indexChunks ? { indexChunksSha256: chunkTableSha256(manifest.indexChunks) } : {}),
    manifestKey: imageKeys(task.backupId).manifest,
    unreadable: writer.problems.first(RESULT_UNREADABLE_LIMIT),
    unreadableCount: writer.problems.count,
    unchangedCount: writer.counts.unchanged,
    writerWaits: pool.writerWaits,
    readerWaits: pool.readerWaits,
    elapsedMs: Math.max(0, times.completedAt.getTime() - times.startedAt.getTime()),
    times: meters.times(),
  });
}

/**
 * Sends the final progress report, then writes the manifest: the mark of a
 * complete image. The report goes first so that a job cancelled meanwhile
 * aborts here, and its objects are removed instead of becoming an image
 * nobody catalogues.
 */
async function publishManifest(deps: BackupDeps, run: ImageRun, manifest: ImageManifest): Promise<void> {
  const key = imageKeys(manifest.backupId).manifest;
  const encoded = encodeManifest(manifest);
  await run.ticker.finish();
  run.stop.signal.throwIfAborted();
  try {
    await deps.store.put(key, encoded);
  } catch (error) {
    throw mediaWriteError(key, error);
  }
}

/**
 * After a failure: stops the ticker and the uploads, removes what was
 * written, and returns the one error the backup ends with (with what could
 * not be removed in its details).
 */
async function discardFailedImage(task: BackupTask, run: ImageRun, error: unknown): Promise<CairnError> {
  run.ticker.stop();
  // Read the store's failure before stopping the uploads, whose own failures follow from it.
  const storeFailure = run.writer.storeFailure;
  await run.writer.abort(error);
  const failure = classify(error, run.stop.signal, storeFailure, task.backupId);
  const leftovers = await run.writer.discardWritten();
  if (leftovers.length === 0) return failure;
  return new CairnError(failure.statusCode, failure.message, { cause: failure.cause, details: [...failure.details, ...leftovers] });
}

/** The one error a failed backup ends with, most specific reason first. */
function classify(error: unknown, stop: AbortSignal, storeFailure: unknown, backupId: string): CairnError {
  if (stop.aborted && stop.reason instanceof CairnError) return stop.reason;
  if (storeFailure !== undefined) return mediaWriteError(backupId, storeFailure);
  if (error instanceof CairnError) return error;
  return new CairnError(StatusCode.INTERNAL_ERROR, `backup ${backupId} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

function mediaWriteError(what: string, cause: unknown): CairnError {
  if (cause instanceof CairnError && cause.statusCode === StatusCode.MEDIA_WRITE_ERROR) return cause;
  return new CairnError(StatusCode.MEDIA_WRITE_ERROR, `media write error writing ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

function terminated(reason: unknown): CairnError {
  return new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', reason === undefined ? {} : { cause: reason });
}

/** The opener of an agent that was given none: an incremental cannot read its base. */
const noOpener: StorageUnitOpener = async (unit) => {
  throw new CairnError(StatusCode.INTERNAL_ERROR, `no storage-unit opener was given to the agent, so storage unit ${unit.name} cannot be opened`);
};

/**
 * The base image's file index, by path, for change detection. Memory grows
 * with the base's file count (one small record a file): the price of
 * detecting changes from size, mtime, ctime and inode without reading data.
 */
async function loadBaseIndex(base: NonNullable<BackupTask['base']>, openStore: StorageUnitOpener): Promise<{ entries: Map<string, IndexEntry>; store: ObjectStore }> {
  const entries = new Map<string, IndexEntry>();
  let store: ObjectStore;
  try {
    store = await openStore(base.storageUnit);
    for await (const entry of readIndex(store, base.indexKey, base.indexSha256)) if (entry.type === 'file') entries.set(entry.path, entry);
  } catch (error) {
    if (error instanceof CairnError) throw new CairnError(error.statusCode, `cannot read the index of base image ${base.backupId}: ${error.message}`, { cause: error });
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read the index of base image ${base.backupId}`, { cause: error });
  }
  // The store stays with the base: large files read their block maps from it (block-map.ts).
  return { entries, store };
}
