import { MAX_THROUGHPUT_SAMPLES, type ThroughputSample } from '../model/job.ts';

/**
 * A job's throughput over time, bounded whatever the job's length: the
 * running agent keeps one and sends it whole with each progress report
 * (`JobProgress.samples`), so the record needs no append (neither SQLite's
 * json_patch nor one DynamoDB UpdateItem can append to a bounded list).
 *
 * Points are at least `step` seconds apart, except the newest, which moves
 * with each report so the series always ends at the latest figure. When the
 * series is full, every other point goes (the first and the newest stay)
 * and `step` doubles: a two-minute job keeps a point a second, a ten-hour
 * one a point every few minutes, never more than `max` points. Time is
 * passed in; nothing here reads a clock.
 */
export class ThroughputSeries {
  readonly #max: number;
  #step: number;
  #points: ThroughputSample[] = [];

  constructor(options: { max?: number; stepSeconds?: number } = {}) {
    this.#max = Math.max(3, options.max ?? MAX_THROUGHPUT_SAMPLES);
    this.#step = options.stepSeconds ?? 1;
  }

  /** Records `bytes` written so far at `at`. A time before the newest point is ignored (a clock that stepped back). */
  add(at: Date, bytes: number): void {
    const seconds = at.getTime() / 1000;
    const point: ThroughputSample = [seconds, Math.max(0, Math.round(bytes))];
    const newest = this.#points.at(-1);
    if (newest && seconds < newest[0]) return;
    const before = this.#points.at(-2);
    // The newest point is provisional while it is less than a step past the one before it: it moves to the latest figure.
    if (newest && before && newest[0] - before[0] < this.#step) this.#points[this.#points.length - 1] = point;
    else this.#points.push(point);
    if (this.#points.length > this.#max) this.#thin();
  }

  /** The points, oldest first (a copy). */
  points(): ThroughputSample[] {
    return this.#points.map((p) => [p[0], p[1]]);
  }

  /** The current minimum distance between points, in seconds. */
  get stepSeconds(): number {
    return this.#step;
  }

  #thin(): void {
    const newest = this.#points.at(-1)!;
    const kept = this.#points.filter((_, i) => i % 2 === 0);
    if (kept.at(-1) !== newest) kept.push(newest);
    this.#points = kept;
    this.#step *= 2;
  }
}

/**
 * Bytes per second over each interval between consecutive points, each at
 * its interval's end, led by the first interval's rate at the first point's
 * time: what the job page charts as steps (the rate held over the interval),
 * so even a one-interval job spans its own time. Empty with fewer than two
 * points at different times.
 */
export function ratesOf(points: readonly ThroughputSample[]): { at: number; bytesPerSecond: number }[] {
  const rates: { at: number; bytesPerSecond: number }[] = [];
  for (let i = 1; i < points.length; i++) {
    const [t0, b0] = points[i - 1]!;
    const [t1, b1] = points[i]!;
    if (t1 <= t0) continue;
    const bytesPerSecond = Math.max(0, (b1 - b0) / (t1 - t0));
    if (rates.length === 0) rates.push({ at: t0, bytesPerSecond });
    rates.push({ at: t1, bytesPerSecond });
  }
  return rates;
}
