import { BackupTaskResult, type OffhostFigures } from '../model/task.ts';
import type { Image } from '../model/image.ts';
import { JOB_DETAILS_LIMIT } from '../model/job.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import { imageRecord } from './image-record.ts';
import { getJobOfKind } from '../jobs/job-of-kind.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { recordTapeWrites } from './tape-writes.ts';

export interface CatalogDeps {
  jobs: JobStore;
  catalog: CatalogStore;
  /** The media manager: an image with fragments on tape is recorded on its volumes before it is catalogued (tape-writes.ts). */
  emm?: MediaDatabase;
}

/**
 * Records the image once the agent has reported every byte durable (data
 * first, catalog last). Idempotent for a retried step.
 */
export async function commitImage(deps: CatalogDeps, jobId: number, rawResult: unknown, now: Date): Promise<{ backupId: string; statusCode: number }> {
  const result = parseOrThrow(BackupTaskResult, rawResult, 'agent result', StatusCode.CORRUPT_IMAGE);
  const job = await getJobOfKind(deps.jobs, jobId, 'backup');
  if (job.state !== 'ACTIVE') {
    // Cancelled (150) or otherwise ended while the agent worked: its image is not catalogued.
    throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended (${job.state}, status ${job.statusCode}) before its image could be catalogued`);
  }
  if (job.backupId !== result.backupId) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `agent reported image ${result.backupId} for job ${jobId}, which writes ${job.backupId ?? 'no image'}`);
  }
  const image = imageRecord({ ...job, jobId, ...(await streamsOfParent(deps.jobs, job.parentJobId)) }, result);
  const onTape = image.copies.some((c) => c.fragments.some((f) => f.location.kind === 'tape'));
  if (onTape) {
    if (!deps.emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `image ${image.backupId} has fragments on tape, and the catalog has no media manager to record them in`);
    await recordTapeWrites(deps.emm, image, job.retentionDays, now, result.fullVolume);
  }
  await deps.catalog.putImage(image);
  // An administrator may have ended the job while the image was committed.
  // The job record is what the operator saw, so the image goes (its data
  // stays claimed until the janitor removes it). cancelJob checks the same
  // thing from its side, so one of the two always sees the other.
  const after = await deps.jobs.get(jobId);
  if (after?.state !== 'ACTIVE') {
    await deps.catalog.withdrawImage(image.backupId, now);
    throw new CairnError((after?.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended (status ${after?.statusCode}) while its image ${image.backupId} was catalogued; the image was withdrawn`);
  }
  // An incremental's base expired while it was taken: its unchanged files would point at deleted data. The
  // expiration marks before it reads the images, this reads the base after the commit: one always sees the other.
  await refuseExpiredBase(deps, image, now);
  const seconds = Math.max(result.elapsedMs / 1000, 0.001);
  try {
    await deps.jobs.update(jobId, (j) => ({
      ...j,
      progress: { ...j.progress, files: result.fileCount, bytes: result.bytes, throughputBps: Math.round(result.bytes / seconds), writerWaits: result.writerWaits, readerWaits: result.readerWaits, times: result.times ?? j.progress.times, currentPath: undefined },
      unreadable: result.unreadable,
      ...(result.offhost ? { details: [...(j.details ?? []), { at: now.toISOString(), message: offhostDetail(result.offhost) }].slice(-JOB_DETAILS_LIMIT) } : {}),
      updatedAt: now.toISOString(),
    }));
  } catch (error) {
    // The step fails, so the attempt fails (and may be retried as a new image):
    // its image must not stay listed. Withdrawn, its data stays claimed until
    // the janitor removes it.
    await deps.catalog.withdrawImage(image.backupId, now).catch(() => undefined);
    throw error;
  }
  return { backupId: image.backupId, statusCode: result.statusCode };
}

/**
 * A stream's image names every stream of its parent (the parent records them
 * once it has worked them out, before it starts any), so that a point-in-time
 * view knows which images make up the client's whole tree. Nothing for a job
 * that is not a stream, or whose parent does not record its streams.
 */
async function streamsOfParent(jobs: JobStore, parentJobId: number | undefined): Promise<{ streams?: string[] }> {
  if (parentJobId === undefined) return {};
  const parent = await jobs.get(parentJobId);
  const streams = parent?.type === 'backup' ? parent.streaming?.streams : undefined;
  return streams ? { streams } : {};
}

/** An offhost backup's figures as one line of the job's details: how many files the mover read from the device, and how many fell back to a file read (docs/offhost.md). */
export function offhostDetail(figures: OffhostFigures): string {
  const reasons = Object.entries(figures.fallbackReasons).map(([reason, count]) => `${reason} ${count}`).join(', ');
  return `offhost: ${figures.deviceFiles} files read from the device (${figures.deviceBytesRead} bytes in ${figures.deviceReads} reads), ${figures.fallbackFiles} fell back to a file read${reasons ? ` (${reasons})` : ''}`;
}

/** Withdraws a just-committed incremental whose base is no longer ACTIVE (expired meanwhile: core/catalog/expire-images.ts), failing the step (2005): the job ends naming the base, and the next backup takes another. */
async function refuseExpiredBase(deps: CatalogDeps, image: Image, now: Date): Promise<void> {
  if (image.baseBackupId === undefined) return;
  const base = await deps.catalog.getImage(image.baseBackupId);
  if (base?.state === 'ACTIVE') return;
  await deps.catalog.withdrawImage(image.backupId, now);
  throw new CairnError(StatusCode.CONFLICT, `image ${image.backupId} was taken against ${image.baseBackupId}, which ${base ? 'is being expired' : 'has expired'}; the image was withdrawn`);
}
