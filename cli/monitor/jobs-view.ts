import { createHash } from 'node:crypto';
import { ValidationError } from '#core/errors.ts';
import { describeStatus } from '#core/status-codes.ts';
import { JOB_KINDS, type Job } from '#core/model/job.ts';
import type { JobStore } from '#core/ports/job-store.ts';

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
    .map(withStatusText);
  return { jobs: views, etag: etagOf(views) };
}

/** One job with its status text, or undefined when there is none with that id. */
export async function showJob(jobs: JobStore, jobId: number): Promise<JobView | undefined> {
  const job = await jobs.get(jobId);
  return job && withStatusText(job);
}

/** A strong ETag of a JSON value: the same list gives the same tag in every process. */
export function etagOf(value: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 27)}"`;
}
