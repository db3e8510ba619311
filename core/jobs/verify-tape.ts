import { VerifyTaskResult } from '../model/verify-task.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import { getJobOfKind, updateJobOfKind } from './job-of-kind.ts';
import { volumesOf } from './restore-job.ts';
import { verifiedImage, verifyOutcome } from './verify-job.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';

/**
 * A verify job of an image on tape (verify-job.asl.json's tape branch):
 * the restore job's volume loop (Plan, then per volume Reserve, Mount,
 * Read, RecordRead, Unmount, Release), with a Read that checks instead of
 * extracting. Plan and RecordRead are here; Reserve is
 * core/broker/verify-reservation.ts.
 */

/** How many problems the job record keeps over all its volumes (the count says how many there were). */
const KEPT_PROBLEMS = 50;

/**
 * The Plan state: every volume of the image's primary copy, in the order
 * of its fragments, recorded on the job (`cairn jobs show` lists them). A
 * verify reads every fragment, so no volume is left out.
 */
export async function planVerifyJob(deps: { config: ConfigStore; jobs: JobStore; catalog: Pick<CatalogStore, 'getImage'> }, jobId: number, now: Date): Promise<{ count: number; volumes: string[] }> {
  const job = await getJobOfKind(deps.jobs, jobId, 'verify');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before it was planned`);
  const { image, unit } = await verifiedImage(deps, job.image);
  if (unit.kind !== 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId}: image ${job.image} is on ${unit.kind} unit ${unit.name}, which has no volumes to plan`);
  const volumes = volumesOf(image);
  if (volumes.length === 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} lists no fragment to read`);
  await updateJobOfKind(deps.jobs, jobId, 'verify', (j) => ({ ...j, volumes, updatedAt: now.toISOString() }));
  return { count: volumes.length, volumes: volumes.map((v) => v.mediaId) };
}

/**
 * After a volume's Read: its totals and problems are added to the job's
 * (problems in image order, since volumes are read in fragment order), the
 * volume marked read. Before the last volume the outcome is 0 and the loop
 * goes on: a verify reads every volume however many problems the first
 * had. After the last, it is the job's: 0, or 2001 naming the first bad
 * member of the image. Idempotent for a volume already read. A job that
 * ended meanwhile (cancelled) is refused with its status.
 */
export async function recordVerifyVolume(deps: { jobs: JobStore }, jobId: number, volume: number, rawResult: unknown, now: Date): Promise<{ statusCode: number } | { failure: { Error: string; Cause: string } }> {
  const result = parseOrThrow(VerifyTaskResult, rawResult, 'verify result', StatusCode.INTERNAL_ERROR);
  const current = await getJobOfKind(deps.jobs, jobId, 'verify');
  if (current.state === 'DONE') throw new CairnError((current.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended (status ${current.statusCode}) while volume ${volume + 1} was read`);
  const job = await updateJobOfKind(deps.jobs, jobId, 'verify', (j) => {
    const volumes = j.volumes ?? [];
    const read = volumes[volume];
    if (read === undefined || read.read) return j;
    const marked = volumes.map((v, i) => (i === volume ? { ...v, read: true, files: result.members, bytes: result.bytes } : v));
    // A file running on onto the next volume: its hash so far, for that volume's Read (the next Reserve puts it in the task).
    const { carry: _old, ...rest } = j;
    const carry = result.carry ? { carry: { ...result.carry, afterVolume: volume } } : {};
    // The agent's progress reports during a Read count that volume only: the job's totals are the sum of the volumes read.
    const sum = (key: 'files' | 'bytes'): number => marked.reduce((n, v) => n + (v[key] ?? 0), 0);
    return {
      ...rest,
      ...carry,
      volumes: marked,
      progress: { ...j.progress, files: sum('files'), bytes: sum('bytes'), currentPath: undefined },
      problems: [...j.problems, ...result.problems].slice(0, KEPT_PROBLEMS),
      problemCount: j.problemCount + result.problemCount,
      updatedAt: now.toISOString(),
    };
  });
  const volumes = job.volumes ?? [];
  if (volume < volumes.length - 1) return { statusCode: StatusCode.SUCCESS };
  return verifyOutcome(job);
}
