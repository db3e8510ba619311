import { duplicateImage, type DuplicateDeps, type DuplicateRequest, type DuplicateResult } from '#agent/duplicate/duplicate-image.ts';
import { runAsJob, type LifecycleJobDeps, type LifecycleJobRun } from '#core/jobs/lifecycle-job.ts';
import { sourceCopy } from '#core/catalog/image-copies.ts';
import { NotFoundError } from '#core/errors.ts';
import { ThroughputSampler } from '#agent/transport/throughput-sampler.ts';

/** How often a running duplicate's bytes are recorded on its job, at most. */
const PROGRESS_MS = 1000;

/**
 * One duplicate (bpduplicate) as a `duplicate` job in this process: the
 * job is ACTIVE while the copy is written and verified, shows its bytes as
 * they go, and ends with the copy number catalogued (0), or the failure's
 * status and reason; the failure is thrown on. Used by `cairn duplicate`
 * (both runtimes) and the standalone tick's policy copies.
 *
 * `cairn jobs cancel` from any process stops it: the job's watch aborts the
 * duplicate's signal, the copy stops between two objects (or within one,
 * between two chunks), or during its read-back or a wait for a drive,
 * catalogues nothing, releases the drive and volumes it held, and the job
 * keeps its 150. What was written stays uncatalogued under the copy's
 * folder (or past a volume's append point on tape): the next duplicate
 * writes it again.
 */
export async function duplicateAsJob(
  deps: DuplicateDeps & LifecycleJobDeps,
  request: DuplicateRequest & { policy?: string },
): Promise<LifecycleJobRun<DuplicateResult>> {
  // An image not in the catalog is refused before any job, as a backup of an unknown policy is: there is nothing to copy.
  const image = await deps.catalog.getImage(request.backupId);
  if (!image) throw new NotFoundError('image', request.backupId);
  const from = sourceCopy(image, request.fromCopy);
  let shown = 0;
  // The drives the copy is given (to write a tape copy, to read one), recorded on the job as each is held.
  const drives: string[] = [];
  // The job page's chart, as a backup's: the bounded series, sent whole with each report.
  const sampler = new ThroughputSampler(deps.now());
  const { policy, ...duplicate } = request;
  return runAsJob(
    deps,
    'duplicate',
    {
      client: image.client,
      image: request.backupId,
      storageUnit: request.to,
      ...(from ? { fromCopy: from.copyNumber, fromStorageUnit: from.storageUnit } : {}),
      ...(policy === undefined ? {} : { policy }),
    },
    (job) =>
      duplicateImage(deps, {
        ...duplicate,
        signal: request.signal ? AbortSignal.any([request.signal, job.signal]) : job.signal,
        onProgress: (p) => {
          request.onProgress?.(p);
          // One write a second at most: a copy of many small objects must not become a job-table write per object.
          if (deps.now().getTime() - shown < PROGRESS_MS) return;
          shown = deps.now().getTime();
          void job.progress({ files: p.objects, bytes: p.bytes, samples: sampler.sample(deps.now(), p.bytes) });
        },
        onDrive: (drive) => {
          request.onDrive?.(drive);
          if (drives.includes(drive)) return;
          drives.push(drive);
          // Best effort while it runs (as progress is); the end records the whole list again.
          job.record({ drives: [...drives] }).catch(() => undefined);
        },
      }),
    (result) => ({
      statusCode: 0,
      fields: { copyNumber: result.copyNumber, fromCopy: result.fromCopy, ...(result.alreadyPresent ? { alreadyPresent: true } : {}), ...(drives.length > 0 ? { drives: [...drives] } : {}) },
      progress: { files: result.objects, bytes: result.bytes, samples: sampler.sample(deps.now(), result.bytes) },
    }),
  );
}
