import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, messageOf } from '#core/errors.ts';
import type { ReportPublisher } from '#core/ports/report-publisher.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { webhookUrlProblem } from '#core/report/webhook-url.ts';
import { StatusCode } from '#core/status-codes.ts';

export interface WebhookOptions {
  /** At most this many POSTs in all (default 3). */
  attempts?: number;
  /** Waits before the 2nd, 3rd, ... attempt, in ms (default 1 s, then 5 s; the last is repeated). */
  delaysMs?: readonly number[];
  /** Each attempt is given up after this long, in ms (default 10 s). */
  timeoutMs?: number;
}

/** Answers worth another attempt: the receiver is busy or failed for now. Anything else 4xx is refused for good. */
const RETRYABLE = (status: number): boolean => status >= 500 || status === 408 || status === 429;

/**
 * A report POSTed as JSON (`Content-Type: application/json`, the `JobReport`
 * document) to a webhook: Slack/Teams relays, a ticketing system, a script.
 * Node's fetch, no library: one request with a timeout is all it takes.
 *
 * A 2xx answer is success. A network error, a timeout, 5xx, 408 or 429 is
 * tried again, `attempts` in all; any other answer (a 4xx, a redirect, which
 * is never followed so the report cannot be sent on to another host in clear
 * text) fails at once. Failure rejects with a CairnError (2000) naming the URL,
 * the attempts and the last answer; callers report it and carry on: a report
 * never changes a job.
 */
export class WebhookReportPublisher implements ReportPublisher {
  readonly #url: string;
  readonly #attempts: number;
  readonly #delays: readonly number[];
  readonly #timeoutMs: number;

  constructor(url: string, options: WebhookOptions = {}) {
    const problem = webhookUrlProblem(url);
    if (problem !== undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `report webhook ${url}: ${problem}`);
    this.#url = url;
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#delays = options.delaysMs ?? [1000, 5000];
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async publish(report: JobReport): Promise<void> {
    const body = JSON.stringify(report);
    let last = '';
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await sleep(this.#delays[Math.min(attempt - 2, this.#delays.length - 1)] ?? 0);
      try {
        const answer = await fetch(this.#url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'cairn-report' }, body, redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs) });
        // The body is read (and dropped) so the connection is freed.
        await answer.arrayBuffer().catch(() => undefined);
        if (answer.status >= 200 && answer.status < 300) return;
        last = `HTTP ${answer.status}`;
        if (!RETRYABLE(answer.status)) break;
      } catch (error) {
        last = messageOf(error);
      }
    }
    throw new CairnError(StatusCode.INTERNAL_ERROR, `report webhook ${this.#url} did not take the report: ${last}`);
  }
}
