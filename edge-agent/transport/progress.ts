import type { DataPathTimes } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { ThroughputSeries } from '#core/jobs/throughput-series.ts';

export interface ProgressSnapshot {
  files: number;
  bytes: number;
  writerWaits: number;
  readerWaits: number;
  currentPath?: string;
  /** Where the time went so far; reported with each progress update, so a running job shows its verdict too. */
  times?: DataPathTimes;
}

export interface ProgressTickerOptions {
  reporter: TaskReporter;
  now: () => Date;
  snapshot: () => ProgressSnapshot;
  /** How often progress is reported (when it changed). */
  progressEveryMs?: number;
  /** How often the workflow hears we are alive. */
  heartbeatEveryMs?: number;
  /** The workflow can no longer hear us (e.g. its task token timed out). */
  onHeartbeatFailure: (error: unknown) => void;
}

/**
 * Reports a running task from a timer rather than from the data path, so a
 * job whose writer is blocked on slow media still heartbeats, and a job that
 * moves 20,000 small files per second still reports only once a second.
 *
 * Progress is advisory: a failed update is dropped because the next one
 * supersedes it, and the data must not stop for the job record. A failed
 * heartbeat is not dropped: it goes to `onHeartbeatFailure`.
 */
export class ProgressTicker {
  readonly #options: Required<Omit<ProgressTickerOptions, 'onHeartbeatFailure'>> & Pick<ProgressTickerOptions, 'onHeartbeatFailure'>;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<unknown> = Promise.resolve();
  #busy = false;
  #lastReported = '';
  #lastHeartbeatAt: number;
  /** Throughput over time, sent whole with each report (bounded: core/jobs/throughput-series.ts); it starts at 0 bytes now. */
  readonly #series = new ThroughputSeries();

  constructor(options: ProgressTickerOptions) {
    this.#options = { progressEveryMs: 1000, heartbeatEveryMs: 10_000, ...options };
    this.#startedAt = options.now().getTime();
    this.#lastHeartbeatAt = this.#startedAt;
    this.#series.add(options.now(), 0);
  }

  start(): void {
    this.#send(() => this.#heartbeat());
    this.#timer = setInterval(() => this.#tick(), this.#options.progressEveryMs);
    this.#timer.unref();
  }

  /** Stops the timer and reports the final figures (awaited). */
  async finish(): Promise<void> {
    this.stop();
    await this.#inFlight;
    await this.#progress(true);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    if (this.#busy) return;
    const now = Date.now();
    const heartbeatDue = now - this.#lastHeartbeatAt >= this.#options.heartbeatEveryMs;
    this.#send(async () => {
      await this.#progress(false);
      if (heartbeatDue) await this.#heartbeat();
    });
  }

  #send(work: () => Promise<void>): void {
    this.#busy = true;
    this.#inFlight = work().finally(() => {
      this.#busy = false;
    });
  }

  async #heartbeat(): Promise<void> {
    this.#lastHeartbeatAt = Date.now();
    try {
      await this.#options.reporter.heartbeat();
    } catch (error) {
      this.#options.onHeartbeatFailure(error);
    }
  }

  async #progress(force: boolean): Promise<void> {
    const snapshot = this.#options.snapshot();
    const key = `${snapshot.files}/${snapshot.bytes}/${snapshot.writerWaits}/${snapshot.readerWaits}`;
    if (!force && key === this.#lastReported) return;
    this.#lastReported = key;
    const now = this.#options.now();
    const elapsedSeconds = Math.max((now.getTime() - this.#startedAt) / 1000, 0.001);
    this.#series.add(now, snapshot.bytes);
    try {
      await this.#options.reporter.progress({ ...snapshot, throughputBps: Math.round(snapshot.bytes / elapsedSeconds), samples: this.#series.points() });
    } catch {
      // Advisory (see the class comment): the next report supersedes this one.
    }
  }
}
