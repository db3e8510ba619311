import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Image, ImageCopy } from '#core/model/image.ts';
import { isBrokenCopy, primaryCopy } from '#core/model/image.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { RehearsalTask, VerifyTask, VerifyTaskResult } from '#core/model/verify-task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { RehearsalSampler, type SampledFile } from '#core/jobs/rehearsal-sample.ts';
import { readIndex } from '../image/index-reader.ts';
import { readableCopy, readFromCopy } from '../restore/copy-fallback.ts';
import { restorePointInTime } from '../restore/point-in-time.ts';
import { makeScratch, removeScratch, sweepStaleScratch } from './scratch.ts';
import { rehearsalTapeReader, type RehearsalTapeReader } from './tape-reader.ts';
import type { TapeCopyHolding } from '../duplicate/tape-copy-drive.ts';
import { ThroughputSampler } from '../transport/throughput-sampler.ts';

/** Progress reports at most this often (each is a job record write). */
const REPORT_EVERY_MS = 1000;
/** Mismatches the result carries (the count is whole). */
const KEPT_MISMATCHES = 50;

export interface RehearsalDeps {
  openStore: StorageUnitOpener;
  reporter: TaskReporter;
  signal?: AbortSignal;
  now?: () => number;
  /** The scratch directory when the task names none: `$CAIRN_HOME/rehearsals` standalone, `<state dir>/rehearsals` on an agent host. */
  defaultScratch?: string;
  /**
   * The robot's drives and the broker's stores, where this runtime holds
   * them (the standalone one): an image with no readable disk or S3 copy is
   * then restored from its tape copy, its drive and volumes reserved under
   * the rehearsal's job (tape-reader.ts). Absent: tape copies are not read.
   */
  tape?: Omit<TapeCopyHolding, 'holder' | 'signal'>;
}

/**
 * A restore rehearsal's Verify step on the client:
 * 1. removes the scratch directories of rehearsals whose process is gone
 *    (an agent killed mid-rehearsal: scratch.ts);
 * 2. opens the final images and chooses the sample from their indexes
 *    (core/jobs/rehearsal-sample.ts, seeded with the job id);
 * 3. restores the sample (or, for `all`, the whole tree) with the real
 *    point-in-time restore, every copy chosen as a restore chooses it,
 *    into a fresh `<scratch>/cairn-rehearsal-<jobId>-<pid>-<random>`;
 * 4. reads every restored file back and compares its type, size and
 *    sha256 with its index line;
 * 5. always removes the directory (finally), reporting a failure to.
 *
 * A restore that fails is a result (`restoreFailure`, its own status),
 * so the job still records where it restored and whether that is gone; a
 * cancel (150) is thrown after the directory is removed.
 */
export async function runRehearsal(task: VerifyTask, deps: RehearsalDeps): Promise<VerifyTaskResult> {
  const rehearsal = task.rehearsal!;
  const base = rehearsal.scratch ?? deps.defaultScratch;
  if (base === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${task.jobId}: the rehearsal names no scratch directory and this agent has no default (start it with a state directory)`);
  await sweepStaleScratch(base);
  const progress = throttledProgress(deps);
  const dir = await makeScratch(base, task.jobId);
  const finals = [task.image, ...rehearsal.others];
  const found = { sampleSize: 0, filesChecked: 0, bytes: 0, mismatches: [] as string[], mismatchCount: 0, restoredFrom: [] as string[] };
  let restoreFailure: { statusCode: number; message: string } | undefined;
  let thrown: unknown;
  const tapeReader = deps.tape ? rehearsalTapeReader({ ...deps.tape, holder: task.jobId, ...(deps.signal ? { signal: deps.signal } : {}) }) : undefined;
  try {
    const openImage = imageOpener(rehearsal, finals, deps.openStore, tapeReader);
    const opened = await Promise.all(finals.map((i) => openImage(i.backupId)));
    const sample = rehearsal.sample === 'all' ? undefined : await chooseFrom(opened, rehearsal);
    found.sampleSize = sample?.length ?? 0;
    try {
      const result = await restorePointInTime({
        image: opened[0]!.image,
        streamImages: opened.slice(1).map((o) => o.image),
        openImage,
        ...(rehearsal.policy === undefined ? {} : { policy: rehearsal.policy }),
        targetDir: dir,
        ...(sample === undefined ? {} : { paths: sample.map((f) => f.path) }),
        signal: deps.signal,
        onProgress: (p) => progress({ files: p.files, bytes: p.bytes, currentPath: p.currentPath }),
      });
      found.restoredFrom = result.images;
    } catch (error) {
      if (deps.signal?.aborted) throw error;
      restoreFailure = { statusCode: statusOf(error), message: messageOf(error) };
    }
    if (restoreFailure === undefined) {
      const files = sample ?? everyFile(opened, found);
      for await (const file of files) {
        if (deps.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, `job ${task.jobId} was stopped while its rehearsal compared files`);
        const problem = await compare(dir, file);
        found.filesChecked += 1;
        found.bytes += file.size;
        if (problem !== undefined) {
          found.mismatchCount += 1;
          if (found.mismatches.length < KEPT_MISMATCHES) found.mismatches.push(`${file.path}: ${problem}`);
        }
        progress({ files: found.filesChecked, bytes: found.bytes, currentPath: file.path });
      }
    }
  } catch (error) {
    thrown = error;
  } finally {
    await progress.flush();
  }
  // The drive is unloaded and its reservation freed on every path (a tape rehearsal), before the directory goes.
  if (tapeReader) {
    const failed = thrown ?? (restoreFailure === undefined ? undefined : new CairnError(restoreFailure.statusCode as never, restoreFailure.message));
    await tapeReader.release(failed === undefined, failed).catch((error: unknown) => {
      thrown ??= error;
    });
  }
  const scratchProblem = await removeScratch(dir);
  if (thrown !== undefined) {
    if (scratchProblem === undefined) throw thrown;
    throw new CairnError(statusOf(thrown), `${messageOf(thrown)}; the scratch directory ${dir} could not be removed: ${scratchProblem}`, { cause: thrown });
  }
  return {
    fragments: 0,
    members: found.filesChecked,
    filesHashed: found.filesChecked,
    bytes: found.bytes,
    problemCount: found.mismatchCount,
    problems: found.mismatches,
    rehearsal: {
      images: finals.map((i) => i.backupId),
      restoredFrom: found.restoredFrom,
      sampleSize: found.sampleSize,
      filesChecked: found.filesChecked,
      scratchPath: dir,
      scratchDeleted: scratchProblem === undefined,
      ...(scratchProblem === undefined ? {} : { scratchProblem }),
      ...(restoreFailure === undefined ? {} : { restoreFailure }),
    },
  };
}

/**
 * Opens an image the task carries (a final image or an earlier one) from
 * its first readable copy, as `cairn restore` does (copy-fallback.ts): not
 * on tape, not marked broken, every object present. None, and a tape reader
 * given (the standalone runtime): its first tape copy not marked broken,
 * its manifest and index from the unit's index storage, its fragments from
 * the drive (`tapeReader`). The agent has no catalog: an image the task
 * does not carry is 227.
 */
function imageOpener(task: RehearsalTask, finals: readonly Image[], openStore: StorageUnitOpener, tapeReader?: RehearsalTapeReader) {
  const images = new Map([...finals, ...task.earlier].map((i) => [i.backupId, i]));
  const openCopy = async (copy: ImageCopy): Promise<ObjectStore> => {
    const unit = task.units.find((u) => u.name === copy.storageUnit);
    if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${copy.storageUnit} does not exist`);
    return openStore(unit);
  };
  return async (backupId: string): Promise<{ image: Image; store: ObjectStore; fragmentSource?: FragmentSource }> => {
    const image = images.get(backupId);
    if (!image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is not one the rehearsal was given (the catalog's chain of this client ends before it)`);
    try {
      const { copy, store } = await readableCopy(image, openCopy, []);
      return { image: readFromCopy(image, copy), store };
    } catch (error) {
      const tape = tapeReader ? image.copies.find((c) => c.fragments.some((f) => f.location.kind === 'tape') && !isBrokenCopy(image, c.copyNumber)) : undefined;
      if (!tape || !tapeReader) throw error;
      const unit = task.units.find((u) => u.name === tape.storageUnit);
      if (!unit || unit.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `copy ${tape.copyNumber} of image ${backupId} is on tape unit ${tape.storageUnit}, which the rehearsal was not given`);
      const fragmentSource: FragmentSource = tapeReader.source(unit);
      return { image: readFromCopy(image, tape), store: await openStore(unit.index), fragmentSource };
    }
  };
}

/** The sample, from the final images' indexes (each checked against its catalog sha256 as it is read). */
async function chooseFrom(opened: readonly { image: Image; store: ObjectStore }[], task: RehearsalTask): Promise<SampledFile[]> {
  const sampler = new RehearsalSampler(task.sample, task.seed);
  for (const { image, store } of opened) {
    const copy = primaryCopy(image);
    for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) sampler.add(entry);
  }
  return sampler.result();
}

/** `all`: every regular file of the final images' indexes, read again after the restore (nothing held in memory). */
async function* everyFile(opened: readonly { image: Image; store: ObjectStore }[], found: { sampleSize: number }): AsyncGenerator<SampledFile> {
  for (const { image, store } of opened) {
    const copy = primaryCopy(image);
    for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) {
      if (entry.type !== 'file' || entry.changed === 'superseded') continue;
      found.sampleSize += 1;
      yield { path: entry.path, size: entry.size, ...(entry.sha256 === undefined ? {} : { sha256: entry.sha256 }) };
    }
  }
}

/** Why the restored file does not match its index line, or undefined. */
async function compare(dir: string, file: SampledFile): Promise<string | undefined> {
  const path = join(dir, file.path.replace(/^\/+/, ''));
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    return `not restored (${messageOf(error)})`;
  }
  if (!stat.isFile()) return `restored as ${stat.isDirectory() ? 'a directory' : stat.isSymbolicLink() ? 'a symlink' : 'a special file'}, the index says a regular file`;
  if (stat.size !== file.size) return `restored with ${stat.size} bytes, the index says ${file.size}`;
  if (file.sha256 === undefined) return 'the index has no sha256 for it';
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  const sha256 = hash.digest('hex');
  if (sha256 !== file.sha256) return `restored content has sha256 ${sha256}, the index says ${file.sha256}`;
  return undefined;
}

/** Reports progress at most once a second; `flush` waits for what was sent. */
function throttledProgress(deps: RehearsalDeps) {
  const now = deps.now ?? Date.now;
  const started = now();
  // The job page's chart, as a backup's: the bounded series, sent whole with each report.
  const sampler = new ThroughputSampler(new Date(started));
  let last = 0;
  let reporting: Promise<void> = Promise.resolve();
  const report = (p: { files: number; bytes: number; currentPath?: string }): void => {
    const at = now();
    if (at - last < REPORT_EVERY_MS) return;
    last = at;
    const seconds = Math.max((at - started) / 1000, 0.001);
    reporting = reporting.then(() => deps.reporter.progress({ files: p.files, bytes: p.bytes, throughputBps: Math.round(p.bytes / seconds), writerWaits: 0, readerWaits: 0, ...(p.currentPath === undefined ? {} : { currentPath: p.currentPath }), samples: sampler.sample(new Date(at), p.bytes) })).catch(() => undefined);
  };
  return Object.assign(report, { flush: () => reporting });
}
