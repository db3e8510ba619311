import type { Job, JobKind, JobOfKind, JobState } from '../model/job.ts';
import type { JobStore } from '../ports/job-store.ts';
import { CairnError, NotFoundError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * The job, which must be of `kind`. A workflow step that acts on one kind
 * (the broker's backup reservation, the Catalog step) refuses any other
 * with status 2000: the workflow was started for the wrong kind of job.
 */
export function requireKind<K extends JobKind>(job: Job, kind: K): JobOfKind<K> {
  if (job.type !== kind) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${job.jobId} is a ${job.type} job, not a ${kind} job`);
  return job as JobOfKind<K>;
}

/** Reads a job of `kind`: NotFoundError (2003) when it does not exist, status 2000 when it is of another kind (the workflow was started for the wrong kind). */
export async function getJobOfKind<K extends JobKind>(jobs: Pick<JobStore, 'get'>, jobId: number, kind: K): Promise<JobOfKind<K>> {
  const job = await jobs.get(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  return requireKind(job, kind);
}

/** `JobStore.update` for a change that needs the fields of one kind; the kind is checked on every (re)application. */
export function updateJobOfKind<K extends JobKind>(
  jobs: Pick<JobStore, 'update'>,
  jobId: number,
  kind: K,
  change: (job: JobOfKind<K>) => JobOfKind<K>,
  options?: { expectedStates?: readonly JobState[] },
): Promise<JobOfKind<K>> {
  return jobs.update(jobId, (job) => change(requireKind(job, kind)), options) as Promise<JobOfKind<K>>;
}
