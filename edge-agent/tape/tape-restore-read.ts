import { chmod, lstat, realpath, utimes } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { RestoreTask, RestoreTaskResult } from '#core/model/agent-command.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { planImage, type ImagePlan } from '../restore/restore-plan.ts';
import { runPlans, type PieceCarry } from '../restore/restore.ts';
import { removePartialOf } from '../restore/partial-file.ts';
import { checkTarget, type ExistingEntries } from '../restore/restore-target.ts';
import { corruptImageError } from '../restore/image-trust.ts';
import { parseMemberPath } from '../restore/safe-path.ts';
import { ProblemList } from '../reader/problems.ts';
import { tapeFragmentSource } from './format/tape-fragment-source.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';
import { FaultReportingTapeDrive } from './drives/fault-reporting-drive.ts';
import { ThroughputSampler } from '../transport/throughput-sampler.ts';

export interface TapeReadDeps {
  /** Opens the tape unit's store: its index unit, where the image's manifest and index are. */
  openStore: StorageUnitOpener;
  reporter?: TaskReporter;
  signal?: AbortSignal;
}

/** Progress goes to the job record at most this often (each report is a store write). */
const REPORT_EVERY_MS = 1000;

/**
 * The Read step of a tape restore job on the agent (bptm reading for
 * bprestore): one volume's share of the restore, from the drive the Mount
 * step loaded.
 *
 * The restore is planned as `cairn restore` plans it (edge-agent/restore:
 * the catalog → manifest → index chain of trust, the selected paths, the
 * spans of a selective restore), then only the planned fragments on this
 * volume (`task.tape.fragments`) are read, each positioned by its recorded
 * block (`tapeFragmentSource`): a single-file restore reads its member's
 * records and nothing else, and a volume holding none of the selected
 * paths is not read at all. The volume's label is checked before its first
 * read (93 on the wrong tape). Extraction is restore's own (`runPlans`).
 *
 * Across volumes, each Read is one pass of the extractor over its volume's
 * fragments: the first checks the target as the operator asked (`refuse`:
 * empty); later ones write into what earlier volumes restored (`refuse`
 * becomes `overwrite`: the target was empty when the job began). The last
 * of several sets the modes and times of the selected directories restored
 * by earlier volumes again, since later volumes wrote into them. (A
 * directory left without write permission by an earlier volume's Read
 * refuses a non-root agent's later writes into it; a hard link whose
 * target is on an earlier volume is not joined across Reads.)
 *
 * A file stored as pieces on two or more volumes is joined across Reads
 * (`pieceCarry`): the Read that meets its first pieces keeps what it wrote
 * as a partial file (restore/partial-file.ts) and lists nothing for it;
 * each next Read continues that file at exactly the file byte the index
 * places its first piece on that volume at (the partial file must hold
 * exactly that many bytes); the Read of its last piece checks the whole
 * file's sha256 and puts it in place. A Read that fails or is cancelled
 * removes the partial file it was given or made.
 */
export async function runTapeRestoreRead(task: RestoreTask, deps: TapeReadDeps, devices: TapeDevices = realTapeDevices): Promise<RestoreTaskResult> {
  const tape = task.tape;
  if (tape === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `restore job ${task.jobId}: the agent reads tape volumes only; a restore from disk or S3 runs in the process of \`cairn restore\``);
  if (task.images.length !== 1 || !('backupId' in task.source)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `restore job ${task.jobId}: a tape Read restores one image`);
  const { image, storageUnit } = task.images[0]!;
  const store = await deps.openStore(storageUnit);
  const targetDir = task.target.directory;
  await checkTarget(targetDir);

  // A read, position or label error says which drive and volume (its `[tape-fault ...]` tag): the job's
  // Release counts it on both as a backup's (core/broker/tape-release.ts), the error policy applied.
  const opened = new FaultReportingTapeDrive(await devices.openDrive(tape.drive), { drive: tape.drive.name, mediaId: tape.mediaId });
  const { drive, drain } = drainingDrive(opened);
  try {
    const fragmentSource = tapeFragmentSource({
      mount: async (mediaId: string): Promise<TapeDrive> => {
        if (mediaId !== tape.mediaId) throw new CairnError(StatusCode.INTERNAL_ERROR, `the Read of volume ${tape.mediaId} was asked for a fragment on volume ${mediaId}`);
        return drive;
      },
    });
    const failures = new ProblemList();
    const subject = `image ${image.backupId}`;
    const plan = await planImage({
      store,
      image,
      fragmentSource,
      selection: task.paths.length === 0 ? { kind: 'all' } : { kind: 'paths', paths: task.paths },
      failures,
    });
    if (failures.count > 0 && !task.continueOnError) throw corruptImageError(subject, failures);
    const onVolume = new Set(tape.fragments);
    const volumePlan: ImagePlan = { ...plan, fragments: plan.fragments.filter((f) => onVolume.has(f.number)) };
    const asked = task.target.existing;
    const existing: ExistingEntries = tape.volume === 1 || asked !== 'refuse' ? asked : 'overwrite';
    const carry = await pieceCarry(plan, onVolume, String(task.jobId));
    // The job's chart: this volume's series goes on from the volumes read before it.
    const readStarted = Date.now();
    const sampler = new ThroughputSampler(new Date(readStarted), tape.before);
    let result;
    try {
      result = await runPlans([volumePlan], {
        targetDir,
        existing,
        continueOnError: task.continueOnError,
        failures,
        subject,
        signal: deps.signal,
        onProgress: throttledProgress(deps.reporter, sampler, readStarted),
        carry,
      });
    } catch (error) {
      // The file this Read was to continue is not restored by this job: its partial file goes (the extractor removed it if it had reopened it).
      if (carry.resume !== undefined) await removePartialOf(targetDir, carry.resume.entry.path, carry.tag);
      throw error;
    }
    // The series' last point: what this volume restored, however short its Read (advisory: RecordRead records the totals).
    const readEnded = Date.now();
    await deps.reporter?.progress({ files: result.files, bytes: result.bytes, throughputBps: rateOf(result.bytes, readStarted, readEnded), writerWaits: 0, readerWaits: 0, samples: sampler.sample(new Date(readEnded), result.bytes) }).catch(() => undefined);
    if (tape.volume === tape.volumes && tape.volumes > 1) await resetDirectories(plan, onVolume, targetDir);
    const statusCode = result.refused.length > 0 || result.failures.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
    return { ...result, statusCode };
  } finally {
    // A stopped restore (cancel, a failure) may leave a read in flight: the drive closes once it has ended.
    await drain();
    await opened.close();
  }
}

/**
 * The drive, with every operation begun on it tracked, and `drain`, which
 * resolves once none is in flight (however each ended). A restore that
 * stops (an administrator's cancel, a corrupt fragment) abandons the
 * fragment being read; the read already asked of the drive still ends, and
 * closing the drive under it would make it fail with nobody to hear it.
 */
export function drainingDrive(drive: TapeDrive): { drive: TapeDrive; drain: () => Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const tracked = new Proxy(drive, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        inFlight.add(result);
        result.then(
          () => inFlight.delete(result),
          () => inFlight.delete(result),
        );
        return result;
      };
    },
  });
  return {
    drive: tracked,
    drain: async () => {
      // An abandoned reader may begin a few more reads (up to its next chunk) as each one ends.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** The extractor's progress to the job record, with the throughput series, at most once a second; a failed report does not stop the restore. */
function throttledProgress(reporter: TaskReporter | undefined, sampler: ThroughputSampler, started: number): ((progress: { files: number; bytes: number; currentPath: string }) => void) | undefined {
  if (reporter === undefined) return undefined;
  let last = 0;
  return (progress) => {
    const now = Date.now();
    if (now - last < REPORT_EVERY_MS) return;
    last = now;
    const samples = sampler.sample(new Date(now), progress.bytes);
    void reporter.progress({ files: progress.files, bytes: progress.bytes, throughputBps: rateOf(progress.bytes, started, now), writerWaits: 0, readerWaits: 0, currentPath: progress.currentPath, samples }).catch(() => undefined);
  };
}

/** Bytes per second of this Read (the volume's bytes over its time so far). */
function rateOf(bytes: number, started: number, at: number): number {
  return Math.round(bytes / Math.max((at - started) / 1000, 0.001));
}

/**
 * What this Read carries of pieced files across volumes: the fragments
 * later Reads restore (a file whose next piece is in one is kept as a
 * partial file) and the file an earlier Read kept, if any: a file to
 * restore whose index line is in a fragment before this volume's and
 * which has a run of pieces on this volume (pieces are written in order,
 * so at most one file spans the start of a volume). Costs a pass over the
 * index when an earlier volume was planned.
 */
export async function pieceCarry(plan: ImagePlan, onVolume: ReadonlySet<number>, tag: string): Promise<PieceCarry> {
  const numbers = plan.fragments.map((f) => f.number);
  const first = Math.min(...numbers.filter((n) => onVolume.has(n)));
  const last = Math.max(...numbers.filter((n) => onVolume.has(n)));
  const later = new Set(numbers.filter((n) => n > last && !onVolume.has(n)));
  if (!numbers.some((n) => n < first)) return { tag, later };
  for await (const entry of plan.lines()) {
    if (entry.pieces === undefined || entry.fragment >= first || !plan.wants(entry.path) || !plan.decide(entry).restore) continue;
    const run = entry.pieces.find((p) => onVolume.has(p.fragment));
    if (run !== undefined) return { tag, later, resume: { entry, fileOffset: run.fileOffset } };
  }
  return { tag, later };
}

/**
 * Sets the mode and mtime of each selected directory that an earlier
 * volume's Read restored (its line is in a fragment not on this volume),
 * as the extractor's `finish` did then. Only a real directory inside the
 * target is touched: a path that is refused, missing, a symlink, or
 * resolves outside the target is left alone (the extractor refused or
 * reported it when it met the member).
 */
async function resetDirectories(plan: ImagePlan, onVolume: ReadonlySet<number>, targetDir: string): Promise<void> {
  const root = await realpath(targetDir);
  for await (const entry of plan.lines()) {
    if (entry.type !== 'directory' || onVolume.has(entry.fragment) || !plan.wants(entry.path)) continue;
    const parsed = parseMemberPath(entry.path.replace(/^\/+/, ''));
    if ('refused' in parsed) continue;
    const absolute = join(targetDir, parsed.relative);
    const stat = await lstat(absolute).catch(() => undefined);
    if (!stat?.isDirectory()) continue;
    const real = await realpath(absolute);
    if (real !== root && !real.startsWith(`${root}${sep}`)) continue;
    const mtime = new Date(entry.mtimeMs);
    await chmod(real, entry.mode & 0o7777);
    await utimes(real, mtime, mtime);
  }
}
