import { createHash } from 'node:crypto';
import { ValidationError } from '#core/errors.ts';
import { describeStatus } from '#core/status-codes.ts';
import { JOB_KINDS, type Job } from '#core/model/job.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { bottleneckOf, type Bottleneck } from '#core/jobs/bottleneck.ts';
import { restartRefusal } from '#core/jobs/restart-job.ts';
import { ratesOf } from '#core/jobs/throughput-series.ts';
import type { JobCost } from '#core/cost/job-cost.ts';
import { costOf } from '../job-cost-of.ts';
import type { MonitorBackend } from './route.ts';

/** The job states a filter may name (core/model/job.ts). */
const STATES = ['QUEUED', 'ACTIVE', 'DONE'] as const;
/** How many jobs the table shows: the newest, like `cairn jobs`' default. */
export const JOB_LIST_LIMIT = 200;

/** What `GET /api/jobs` may be filtered by; every field optional. */
export interface JobFilter {
  state?: (typeof STATES)[number];
  status?: number;
  client?: string;
  policy?: string;
  kind?: string;
}

/**
 * Parses the query string of `GET /api/jobs`; a ValidationError names every
 * parameter it rejects (an unknown one too: a misspelt filter that showed
 * every job would read as "no such job is running").
 */
export function parseJobFilter(params: URLSearchParams): JobFilter {
  const filter: JobFilter = {};
  const problems: string[] = [];
  for (const [name, value] of params) {
    if (value === '') continue;
    if (name === 'state') {
      if ((STATES as readonly string[]).includes(value)) filter.state = value as JobFilter['state'];
      else problems.push(`state: ${JSON.stringify(value)} is not one of ${STATES.join(', ')}`);
    } else if (name === 'status') {
      if (/^\d{1,5}$/.test(value)) filter.status = Number(value);
      else problems.push(`status: ${JSON.stringify(value)} is not a status code`);
    } else if (name === 'kind') {
      if ((JOB_KINDS as readonly string[]).includes(value)) filter.kind = value;
      else problems.push(`kind: ${JSON.stringify(value)} is not one of ${JOB_KINDS.join(', ')}`);
    } else if (name === 'client' || name === 'policy') filter[name] = value;
    else problems.push(`${name}: not a filter (state, status, client, policy, kind)`);
  }
  if (problems.length) throw new ValidationError('invalid job filter', problems);
  return filter;
}

/** One row of the jobs table: the record as stored, with its status text (core/status-codes.ts). */
export type JobView = Job & { statusText?: string; policy?: string; client?: string };

function withStatusText(job: Job): JobView {
  return job.statusCode === undefined ? job : { ...job, statusText: describeStatus(job.statusCode) };
}

/** A row of the table leaves out the throughput series (up to 120 points a job): only the job page charts it. */
function withoutSamples(job: Job): Job {
  if (job.progress.samples === undefined) return job;
  const { samples: _samples, ...progress } = job.progress;
  return { ...job, progress };
}

function matches(job: Job, filter: JobFilter): boolean {
  const fields = job as { client?: string; policy?: string };
  if (filter.status !== undefined && job.statusCode !== filter.status) return false;
  if (filter.kind !== undefined && job.type !== filter.kind) return false;
  if (filter.client !== undefined && fields.client !== filter.client) return false;
  if (filter.policy !== undefined && fields.policy !== filter.policy) return false;
  return true;
}

/** The newest jobs (highest id first) that pass the filter, and the ETag of exactly that list. */
export async function listJobs(jobs: JobStore, filter: JobFilter): Promise<{ jobs: JobView[]; etag: string }> {
  const listed = await jobs.list({ ...(filter.state ? { state: filter.state } : {}), limit: JOB_LIST_LIMIT });
  const views = listed
    .filter((job) => matches(job, filter))
    .sort((a, b) => b.jobId - a.jobId)
    .map((job) => withStatusText(withoutSamples(job)));
  return { jobs: views, etag: etagOf(views) };
}

/**
 * One job as its page shows it: what `cairn jobs show` prints beside the
 * record. `restartRefusal` is why Restart is refused (absent when the job can
 * be restarted); `bottleneck` the verdict and its figures for a backup that
 * has moved data; `cost` the measured usage priced for the stack's region,
 * absent on the standalone runtime (no billed cloud service); `throughput`
 * the rates between the recorded samples, for the chart.
 */
export type JobDetailView = JobView & { restartRefusal?: string; bottleneck?: Bottleneck; cost?: JobCost; throughput?: { at: number; bytesPerSecond: number }[] };

/** One job in detail, or undefined when there is none with that id. */
export async function showJob(backend: Pick<MonitorBackend, 'jobs' | 'cloudCost' | 'clock'>, jobId: number): Promise<JobDetailView | undefined> {
  const job = await backend.jobs.get(jobId);
  if (!job) return undefined;
  const refusal = restartRefusal(job, backend.clock.now());
  // The same rule as `cairn jobs show`: only a backup moves data through the buffer pool.
  const bottleneck = job.type === 'backup' && job.state !== 'QUEUED' ? bottleneckOf(job.progress) : undefined;
  const priced = await costOf(backend, job);
  const samples = job.progress.samples;
  return {
    ...withStatusText(job),
    ...(refusal === undefined ? {} : { restartRefusal: refusal }),
    ...(bottleneck ? { bottleneck } : {}),
    ...(priced ? { cost: priced.cost } : {}),
    ...(samples && samples.length > 1 ? { throughput: ratesOf(samples) } : {}),
  };
}

/** A strong ETag of a JSON value: the same list gives the same tag in every process. */
export function etagOf(value: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 27)}"`;
}
