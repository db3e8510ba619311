import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { DataPathTimes } from '#core/model/task.ts';

/** Milliseconds (with a fraction) from an arbitrary start: performance.now, or a test's fake. A number, not a bigint: nothing allocated per reading. */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/**
 * Wall-clock time during which at least one operation of a kind was in
 * flight. Overlapping operations (sixteen files opened ahead at once) count
 * once, so the figure can be set against the job's elapsed time: "the reader
 * was busy 82% of the job". Two clock reads per operation and no allocation
 * per byte: cheap enough to stay on in every job.
 */
export class BusyMeter {
  readonly #clock: Clock;
  #inFlight = 0;
  #since = 0;
  #totalMs = 0;

  constructor(clock: Clock = monotonic) {
    this.#clock = clock;
  }

  start(): void {
    if (this.#inFlight++ === 0) this.#since = this.#clock();
  }

  /** Ends one operation; a stop without a start is ignored. */
  stop(): void {
    if (this.#inFlight === 0) return;
    if (--this.#inFlight === 0) this.#totalMs += this.#clock() - this.#since;
  }

  /** Runs `work`, counting the time until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.start();
    try {
      return await work();
    } finally {
      this.stop();
    }
  }

  /**
   * Counts `ms` measured elsewhere: work done on another thread that reports
   * its own duration (the reader thread's hashing). Such work is serial on
   * its thread, so its durations add up without overlapping.
   */
  add(ms: number): void {
    if (ms > 0) this.#totalMs += ms;
  }

  /** Milliseconds counted so far, including an operation still in flight. */
  get ms(): number {
    const open = this.#inFlight > 0 ? this.#clock() - this.#since : 0;
    return this.#totalMs + open;
  }
}

/**
 * Where a backup's time goes, measured on the data path (see the rule in
 * core/jobs/bottleneck.ts, which reads these figures):
 * - `read`: the reader side's file-system work: walking (readdir, lstat),
 *   opening and fstat'ing files, reading them (on the reader thread: from
 *   the request to its answer, so its queue counts as reading);
 * - `sinkSpan`: fragment writes in progress at the sink, from its first
 *   call to its durable end (flush, fsync); the writer's busy time is this
 *   span less its waits for a full buffer;
 * - `fileHash`: the sha256 of file content, which the reader thread times
 *   and reports (its hashing is serial, so the reports add up);
 * - `fragmentHash`: the fragment checksum's own hashing, of headers and
 *   padding only (tar-members-1, see image/fragment-digest.ts), done as
 *   the packer produces them, on the reader's side of the pool;
 * - `readerWait`: the reader waited for the writer: for an empty buffer, or
 *   for a fragment's sink to finish before the next fragment could start;
 * - `writerWait`: the writer waited for a full buffer.
 * The main thread's busy time comes from Node's event loop utilisation:
 * it packs, copies into the pool and drives the writes; file I/O and
 * content hashing are on the reader thread, whose hashing `fileHash` shows.
 */
export class DataPathMeters {
  readonly read = new BusyMeter();
  readonly sinkSpan = new BusyMeter();
  readonly fileHash = new BusyMeter();
  readonly fragmentHash = new BusyMeter();
  readonly readerWait: BusyMeter;
  readonly writerWait: BusyMeter;
  readonly #startedAt = monotonic();
  readonly #loopAtStart: EventLoopUtilization = performance.eventLoopUtilization();

  /** `pool`: the buffer pool, which measures the waits on either side of it. */
  constructor(pool: { readonly readerWait: BusyMeter; readonly writerWait: BusyMeter }) {
    this.readerWait = pool.readerWait;
    this.writerWait = pool.writerWait;
  }

  /** The figures so far, rounded to the millisecond. */
  times(): DataPathTimes {
    const loop = performance.eventLoopUtilization(this.#loopAtStart);
    const writerWaitMs = this.writerWait.ms;
    return {
      elapsedMs: ms(monotonic() - this.#startedAt),
      readMs: ms(this.read.ms),
      writeMs: ms(Math.max(0, this.sinkSpan.ms - writerWaitMs)),
      hashMs: ms(this.fileHash.ms + this.fragmentHash.ms),
      readerWaitMs: ms(this.readerWait.ms),
      writerWaitMs: ms(writerWaitMs),
      mainThreadMs: ms(loop.active),
    };
  }
}

function ms(value: number): number {
  return Math.max(0, Math.round(value));
}

/** `source` unchanged, counting the time each next item takes to arrive (a walk's readdir and lstat). */
export async function* metered<T>(source: AsyncIterable<T>, meter: BusyMeter): AsyncGenerator<T, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const step = await meter.track(() => iterator.next());
      if (step.done) {
        done = true;
        return;
      }
      yield step.value;
    }
  } finally {
    if (!done) await iterator.return?.();
  }
}
