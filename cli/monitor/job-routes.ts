import { cancelJobAndStreams } from '#core/jobs/data-streams.ts';
import { HttpError, sendJson } from './http-reply.ts';
import { listJobs, parseJobFilter, showJob } from './jobs-view.ts';
import type { MonitorRoute } from './route.ts';

/** The jobs table, one job, and the cancel: the routes of the Jobs pages. */
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
      const job = await showJob(backend.jobs, Number(match[1]));
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
];
