import { CairnError, NotFoundError, ValidationError } from '#core/errors.ts';
import { StatusCode, describeStatus } from '#core/status-codes.ts';
import { cancelJobAndStreams } from '#core/jobs/data-streams.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import { restartJob } from '../job-restart.ts';
import { HttpError, sendJson } from './http-reply.ts';
import { listJobs, parseJobFilter, showJob } from './jobs-view.ts';
import type { MonitorRoute, RouteContext } from './route.ts';
import { statusCodesView } from './status-codes-view.ts';

/** The jobs table, one job, the cancel and the restart: the routes of the Jobs pages. */
export const JOB_ROUTES: MonitorRoute[] = [
  {
    method: 'GET',
    path: /^\/api\/jobs$/,
    handle: async ({ request, response, url, backend }) => {
      const { jobs, etag } = await listJobs(backend.jobs, parseJobFilter(url.searchParams));
      response.setHeader('ETag', etag);
      response.setHeader('Cache-Control', 'no-cache');
      if (request.headers['if-none-match'] === etag) return void response.writeHead(304).end();
      sendJson(response, 200, { jobs });
      return undefined;
    },
  },
  {
    method: 'GET',
    path: /^\/api\/jobs\/(\d{1,12})$/,
    handle: async ({ match, backend }) => {
      const job = await showJob(backend, Number(match[1]));
      if (!job) throw new HttpError(404, `job ${match[1]} not found`);
      return job;
    },
  },
  {
    // The cancel `cairn jobs cancel` runs (a multiple-data-streams parent takes its streams with it), recorded as the monitor's actor.
    method: 'POST',
    path: /^\/api\/jobs\/(\d{1,12})\/cancel$/,
    handle: async ({ match, backend, actor }) => {
      const jobId = Number(match[1]);
      const job = await backend.jobs.get(jobId);
      if (!job) throw new HttpError(404, `job ${jobId} not found`);
      if (job.state === 'DONE') throw new HttpError(409, `job ${jobId} has already ended with status ${job.statusCode}`);
      return cancelJobAndStreams(backend, jobId, backend.clock.now(), actor);
    },
  },
  {
    // The status codes' document (docs/status-codes.md) as data: what every status link on the page opens.
    method: 'GET',
    path: /^\/api\/status-codes$/,
    handle: async () => statusCodesView(),
  },
  {
    // What `cairn jobs restart` runs, recorded as the monitor's actor; answered once the new job is queued, which then runs in this process.
    method: 'POST',
    path: /^\/api\/jobs\/(\d{1,12})\/restart$/,
    handle: async ({ match, backend, actor }) => {
      const jobId = Number(match[1]);
      const queued = await startRestart(backend, jobId, actor);
      return { restartedFrom: jobId, jobId: queued.jobId };
    },
  },
];

/**
 * Starts the restart and resolves with the new job as soon as it is queued.
 * A refusal (no such job: 404; not an ended backup: 20, a 409 with the
 * CLI's reason; a request the queue refuses) rejects instead. The job ends
 * on its own: its outcome is in its record, not in this answer.
 */
function startRestart(backend: RouteContext['backend'], jobId: number, actor: string): Promise<JobRef> {
  return new Promise<JobRef>((resolve, reject) => {
    restartJob(backend, jobId, actor, { onQueued: resolve }).then(
      // Ended without being queued (the queue refused the request): say why. After a queue this changes nothing.
      (run) => reject(new HttpError(409, `job ${jobId} was not restarted: status ${run.statusCode} (${describeStatus(run.statusCode)})${run.error ? `: ${run.error}` : ''}`)),
      // Refused before anything started for what the request names (with --aws, a client no agent serves: 48): a 409 with
      // the command's reason, as a job that is not an ended backup (20) already is. A missing job stays a 404, bad input a
      // 400, and Cairn's own failures (2000 and up) a 500.
      (error: unknown) => reject(refusedRequest(error) ? new HttpError(409, `job ${jobId} was not restarted: status ${error.statusCode} (${describeStatus(error.statusCode)}): ${error.message}`) : error),
    );
  });
}

/** A refusal of what the request names other than 20 (sendError answers that one 409 itself), as opposed to a missing job, bad input, or a failure of Cairn or its stores (2000 and up). */
function refusedRequest(error: unknown): error is CairnError {
  return error instanceof CairnError && !(error instanceof NotFoundError) && !(error instanceof ValidationError) && error.statusCode !== StatusCode.INVALID_COMMAND_USAGE && error.statusCode < StatusCode.INTERNAL_ERROR;
}
