/// <reference lib="dom" />
/**
 * The page's calls to the monitor's API. The token travels in the HttpOnly
 * cookie, which the browser adds itself: no script of the page ever holds it.
 */

/** A job as `GET /api/jobs` returns it (the fields the page shows). */
export interface JobRow {
  jobId: number;
  type: string;
  state: 'QUEUED' | 'ACTIVE' | 'DONE';
  statusCode?: number;
  statusText?: string;
  client?: string;
  policy?: string;
  schedule?: string;
  level?: string;
  storageUnit?: string;
  waitingReason?: string;
  error?: string;
  attempt: number;
  attempts: { attempt: number; statusCode: number; error?: string; startedAt?: string; endedAt: string }[];
  details?: { at: string; message: string }[];
  progress: { files: number; bytes: number; throughputBps: number; currentPath?: string };
  selections?: string[];
  /** A backup's media ids; a restore's volumes with what was read from each. */
  volumes?: (string | { mediaId: string })[];
  /** A tape job's drives, by name, in the order it was first given each. */
  drives?: string[];
  queuedAt: string;
  startedAt?: string;
  endedAt?: string;
  updatedAt: string;
}

export interface Filters {
  state: string;
  status: string;
  client: string;
  policy: string;
}

export async function answer<T>(response: Response): Promise<T> {
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

export async function fetchJobs(filters: Filters): Promise<JobRow[]> {
  const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
  return (await answer<{ jobs: JobRow[] }>(await fetch(`/api/jobs?${query.toString()}`))).jobs;
}

export async function fetchJob(jobId: number): Promise<JobRow> {
  return answer<JobRow>(await fetch(`/api/jobs/${jobId}`));
}

export async function cancelJob(jobId: number): Promise<void> {
  await answer(await fetch(`/api/jobs/${jobId}/cancel`, { method: 'POST' }));
}
