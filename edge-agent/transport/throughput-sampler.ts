import type { ThroughputSample } from '#core/model/job.ts';
import { ThroughputSeries } from '#core/jobs/throughput-series.ts';

/**
 * A task's throughput series for its job's chart (`progress.samples`), for
 * the tasks that report from their own throttle rather than a ProgressTicker
 * (a restore's Read, a verify, a duplicate). It starts at `start` with the
 * bytes moved before this task (`before`: a tape job's earlier volumes, whose
 * points it goes on from); each `sample` adds this task's bytes so far to
 * them and answers the whole bounded series, which the report sends whole
 * (core/jobs/throughput-series.ts says why).
 */
export class ThroughputSampler {
  readonly #series = new ThroughputSeries();
  readonly #base: number;

  constructor(start: Date, before?: { bytes: number; samples: readonly ThroughputSample[] }) {
    for (const [seconds, bytes] of before?.samples ?? []) this.#series.add(new Date(seconds * 1000), bytes);
    this.#base = before?.bytes ?? 0;
    this.#series.add(start, this.#base);
  }

  /** The series with this task's `bytes` so far at `at`. */
  sample(at: Date, bytes: number): ThroughputSample[] {
    this.#series.add(at, this.#base + bytes);
    return this.#series.points();
  }
}
