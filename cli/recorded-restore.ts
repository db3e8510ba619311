import { primaryCopy, usableImage, type Image, type ImageCopy } from '#core/model/image.ts';
import { Job, type ThroughputSample } from '#core/model/job.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseOrThrow } from '#core/validation.ts';
import { runQueuedJob } from '#core/jobs/lifecycle-job.ts';
import type { Timer } from '#core/ports/clock.ts';
import { readableCopy, readFromCopy, restoreFromCopies, type FallbackResult } from '#agent/restore/copy-fallback.ts';
import { checkExisting, checkTarget, type ExistingEntries } from '#agent/restore/restore-target.ts';
import type { Backend } from './backend-interface.ts';
import { openCopyStore } from './image-browse.ts';
import { ThroughputSampler } from '#agent/transport/throughput-sampler.ts';

/** A restore of picked paths of one image into a directory on this machine. */
export interface RecordedRestoreRequest {
  backupId: string;
  /** Paths as backed up (as the index names them); empty restores the whole image. */
  paths: string[];
  /** An absolute directory on the machine this process runs on. */
  targetDir: string;
  /** What to do with entries already in the target, as `cairn restore` (refuse unless told: --overwrite, --rename-existing). */
  existing: ExistingEntries;
  /** Who asked (a detail line of the job), e.g. `monitor root@host1`. */
  by: string;
}

export interface StartedRestore {
  jobId: number;
  /** Resolves with the job's status once it has ended (the job record says the same); never rejects. */
  finished: Promise<number>;
}

/** How many refused or failed members the job keeps (restore-job.ts keeps as many for a tape restore). */
const KEPT_PROBLEMS = 50;
/** How often a running restore writes its progress to the job record. */
const PROGRESS_EVERY_MS = 500;

/**
 * The image a restore reads, as `cairn restore` checks it: 227 when it is
 * missing (NotFoundError), being expired, or every copy is marked broken.
 */
export async function restorableImage(backend: Pick<Backend, 'catalog'>, backupId: string): Promise<Image> {
  const image = await backend.catalog.getImage(backupId);
  if (!image) throw new NotFoundError('image', backupId);
  if (image.state !== 'ACTIVE') throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is being expired (${image.state}): it cannot be restored`);
  if (!usableImage(image)) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is marked broken by the catalog check (${image.broken?.reasons[0] ?? 'its data is missing'}): it cannot be restored`);
  return image;
}

/**
 * Starts a restore as a recorded restore job and resolves once the job is
 * queued; the restore goes on in this process, and its job record (`cairn
 * jobs`, the monitor's Jobs table) shows it QUEUED, ACTIVE with its
 * progress, then DONE with its status (0, 1 when members were refused or
 * not restored, or the status it failed with and why).
 *
 * An image whose primary copy is on tape is the restore job `cairn
 * restore` runs (Backend.runRestore: a drive reserved, each volume
 * mounted). Any other is read from disk or S3 by `restoreFromCopies`, what
 * `cairn restore` runs in its own process, here inside a job
 * (core/jobs/lifecycle-job.ts runQueuedJob: a cancel from `cairn jobs
 * cancel` or the page stops it at its next member; the janitor ends it if
 * this process dies).
 *
 * The target is checked before the job is queued, as `cairn restore` checks
 * it before writing: it must be (or be creatable as) a writable directory,
 * and with `existing: 'refuse'` new or empty (20 naming what is in it).
 * Nothing already there is replaced unless `existing` says so. With --aws a
 * tape image's target is on the robot's agent host, which checks it.
 *
 * With --aws a disk or S3 image is read by this process, as `cairn --aws
 * restore` reads it: an S3 copy is downloaded with this machine's AWS
 * credentials, a disk unit's path must be reachable here.
 */
export async function startRecordedRestore(backend: Omit<Backend, 'close'>, request: RecordedRestoreRequest, timer: Timer): Promise<StartedRestore> {
  const image = await restorableImage(backend, request.backupId);
  const primary = primaryCopy(image);
  const primaryUnit = await backend.config.getStorageUnit(primary.storageUnit);
  // With --aws a tape image's restore job runs on the robot's agent host and writes there: this machine cannot see that
  // directory, so the agent's restore checks it (as `cairn --aws restore` leaves it to the job). Everywhere else the files
  // are written on this machine, and the target is checked here before anything is queued.
  if (primaryUnit?.kind === 'tape' && backend.kind === 'aws') return startTapeRestore(backend, image, request);
  await checkTarget(request.targetDir);
  await checkExisting(request.targetDir, request.existing);
  if (primaryUnit?.kind === 'tape') return startTapeRestore(backend, image, request);
  const jobs = backend.jobs;
  const now = (): Date => backend.clock.now();
  const jobId = await jobs.nextJobId();
  const at = now().toISOString();
  const job = parseOrThrow(
    Job,
    {
      jobId,
      type: 'restore',
      state: 'QUEUED',
      client: image.client,
      source: { backupId: image.backupId },
      target: { client: image.client, directory: request.targetDir, existing: request.existing },
      paths: request.paths,
      storageUnit: primary.storageUnit,
      owner: backend.owner,
      details: [{ at, message: `started by ${request.by}`.slice(0, 2048) }],
      queuedAt: at,
      updatedAt: at,
    },
    'restore job',
    StatusCode.INTERNAL_ERROR,
  );
  await jobs.create(job);
  const openCopy = (copy: ImageCopy) => openCopyStore(backend, copy);
  // Earlier images (an incremental's unchanged blocks) are opened as `cairn restore` opens them: a readable copy first.
  const openImage = async (backupId: string) => {
    const earlier = await restorableImage(backend, backupId);
    const { copy, store } = await readableCopy(earlier, openCopy, []);
    return { image: readFromCopy(earlier, copy), store };
  };
  const finished = runQueuedJob<'restore', FallbackResult & { samples: ThroughputSample[] }>(
    { jobs, now, timer },
    jobId,
    async (context) => {
      let lastReport = 0;
      // The job page's chart, as a backup's: the bounded series, sent whole with each report.
      const sampler = new ThroughputSampler(now());
      return restoreFromCopies(
        {
          image,
          targetDir: request.targetDir,
          ...(request.paths.length > 0 ? { paths: request.paths } : {}),
          existing: request.existing,
          openImage,
          signal: context.signal,
          onProgress: (progress) => {
            const moment = now().getTime();
            if (moment - lastReport < PROGRESS_EVERY_MS) return;
            lastReport = moment;
            void context.progress({ files: progress.files, bytes: progress.bytes, currentPath: progress.currentPath, samples: sampler.sample(new Date(moment), progress.bytes) });
          },
        },
        openCopy,
      ).then((result) => ({ ...result, samples: sampler.sample(now(), result.bytes) }));
    },
    (result) => {
      const problems = [...result.refused.map((r) => `refused: ${r}`), ...result.failures.map((f) => `failed: ${f}`)];
      const statusCode = problems.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
      return {
        statusCode,
        ...(problems.length > 0 ? { reason: `${result.refused.length} refused, ${result.failures.length} failed` } : {}),
        fields: { notRestored: problems.slice(0, KEPT_PROBLEMS), ...(result.copyNumber !== primary.copyNumber ? { copyNumber: result.copyNumber } : {}) },
        progress: { files: result.files, bytes: result.bytes, currentPath: undefined, samples: result.samples },
      };
    },
  ).then(
    (run) => run.statusCode,
    // The job record holds the failure (runQueuedJob ended it with the error's status and message).
    async () => (await jobs.get(jobId))?.statusCode ?? StatusCode.INTERNAL_ERROR,
  );
  return { jobId, finished };
}

/** A tape image: the restore job `cairn restore` queues (Backend.runRestore), resolved once it has its id. */
async function startTapeRestore(backend: Omit<Backend, 'close'>, image: Image, request: RecordedRestoreRequest): Promise<StartedRestore> {
  if (!backend.runRestore) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} is on tape, and this runtime cannot run a tape restore job`);
  let queued: (jobId: number) => void = () => undefined;
  const jobIdKnown = new Promise<number>((resolve) => (queued = resolve));
  const run = backend.runRestore(
    { backupId: image.backupId, targetDir: request.targetDir, paths: request.paths, existing: request.existing, owner: backend.owner },
    { onQueued: (ref) => queued(ref.jobId) },
  );
  const finished = run.then(
    (ended) => ended.statusCode,
    () => StatusCode.INTERNAL_ERROR,
  );
  // A restore that fails before it is queued (its request refused) rejects here instead of leaving the caller waiting.
  const jobId = await Promise.race([jobIdKnown, run.then((ended) => ended.jobId ?? Promise.reject(new CairnError(ended.statusCode as never, ended.error ?? 'the restore job was not queued')))]);
  // Who started it, as on a disk restore's job; a job that has moved on meanwhile only misses the line (the restore is not held up for it).
  const at = backend.clock.now().toISOString();
  await backend.jobs.update(jobId, (j) => ({ ...j, details: [{ at, message: `started by ${request.by}`.slice(0, 2048) }, ...(j.details ?? [])] })).catch(() => undefined);
  return { jobId, finished };
}
