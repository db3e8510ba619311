import type { ServerResponse } from 'node:http';
import type { JobStore } from '#core/ports/job-store.ts';
import { HttpError } from './http-reply.ts';
import { listJobs } from './jobs-view.ts';

/**
 * The most live feeds open at once: a page holds one per tab; each holds a
 * socket (a file descriptor) for as long as it is open. Beyond it a new one
 * is a 503 (the page's EventSource tries again later), so a script opening
 * streams in a loop cannot take the process's descriptors.
 */
export const MAX_EVENT_STREAMS = 64;

/**
 * The live feed (`GET /api/events`, server-sent events): a `jobs` event with
 * the job list's ETag whenever it changes, and one on connecting. The page
 * then fetches `/api/jobs` with its own filters. One poll of the store every
 * `pollMs` serves every open page, and runs only while one is open: the store
 * may be another process's (the standalone service's SQLite, a stack's
 * DynamoDB table), so there is nothing to subscribe to but the table itself.
 */
export class JobEvents {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private etag: string | undefined;
  private polling = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly pollMs: number,
  ) {}

  subscribe(response: ServerResponse): void {
    if (this.clients.size >= MAX_EVENT_STREAMS) throw new HttpError(503, `${MAX_EVENT_STREAMS} live feeds are open already: close a tab of the monitor`);
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    // The browser reconnects after 2 s when the connection drops (a restarted service).
    response.write('retry: 2000\n\n');
    if (this.etag !== undefined) response.write(jobsEvent(this.etag));
    this.clients.add(response);
    // The response's close: the client went away (or the server closed it), whether or not the request had ended.
    response.once('close', () => {
      this.clients.delete(response);
      if (this.clients.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => void this.poll(), this.pollMs);
    void this.poll();
  }

  close(): void {
    this.stop();
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.etag = undefined;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const { etag } = await listJobs(this.jobs, {});
      if (etag !== this.etag) {
        this.etag = etag;
        for (const client of this.clients) client.write(jobsEvent(etag));
      } else {
        // A comment line now and then keeps proxies and idle timers from closing the stream.
        for (const client of this.clients) client.write(': idle\n\n');
      }
    } catch (error) {
      // A store that fails now is tried again at the next poll; the page hears of it.
      for (const client of this.clients) client.write(`event: problem\ndata: ${JSON.stringify({ message: (error as Error).message })}\n\n`);
    } finally {
      this.polling = false;
    }
  }
}

function jobsEvent(etag: string): string {
  return `event: jobs\ndata: ${JSON.stringify({ etag })}\n\n`;
}
