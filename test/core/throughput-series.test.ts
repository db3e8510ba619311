import { describe, expect, it } from 'vitest';
import { JobProgress, MAX_THROUGHPUT_SAMPLES } from '#core/model/job.ts';
import { ThroughputSeries, ratesOf } from '#core/jobs/throughput-series.ts';

const start = Date.UTC(2026, 10, 20, 10, 0, 0);
const at = (seconds: number): Date => new Date(start + seconds * 1000);

describe('a job throughput series', () => {
  it('keeps a point a second for a short job, the newest always the latest figure', () => {
    const series = new ThroughputSeries();
    series.add(at(0), 0);
    series.add(at(1), 100);
    series.add(at(1.5), 150);
    series.add(at(2), 200);
    expect(series.points()).toEqual([
      [start / 1000, 0],
      [start / 1000 + 1, 100],
      [start / 1000 + 2, 200],
    ]);
  });

  it('stays within its bound for a ten-hour job, still spanning the whole job, points spread evenly', () => {
    const series = new ThroughputSeries();
    for (let s = 0; s <= 36_000; s++) series.add(at(s), s * 1000);
    const points = series.points();
    expect(points.length).toBeLessThanOrEqual(MAX_THROUGHPUT_SAMPLES);
    expect(points.length).toBeGreaterThan(MAX_THROUGHPUT_SAMPLES / 2);
    expect(points[0]).toEqual([start / 1000, 0]);
    expect(points.at(-1)).toEqual([start / 1000 + 36_000, 36_000_000]);
    const gaps = points.slice(1).map((p, i) => p[0] - points[i]![0]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * series.stepSeconds);
    // What the record keeps passes its schema (the bound is the schema's too).
    expect(JobProgress.parse({ samples: points }).samples).toEqual(points);
    expect(() => JobProgress.parse({ samples: [...points, ...points] })).toThrow();
  });

  it('ignores a time before its newest point (a clock stepped back)', () => {
    const series = new ThroughputSeries();
    series.add(at(0), 0);
    series.add(at(5), 500);
    series.add(at(3), 900);
    expect(series.points().at(-1)).toEqual([start / 1000 + 5, 500]);
  });

  it('gives the rate over each interval at its end, led by the first rate at the start, whatever was thinned between them', () => {
    expect(ratesOf([[100, 0], [102, 2048], [106, 2048], [107, 3072]])).toEqual([
      { at: 100, bytesPerSecond: 1024 },
      { at: 102, bytesPerSecond: 1024 },
      { at: 106, bytesPerSecond: 0 },
      { at: 107, bytesPerSecond: 1024 },
    ]);
    expect(ratesOf([[100, 0]])).toEqual([]);
    expect(ratesOf([[100, 0], [100.5, 512]])).toEqual([{ at: 100, bytesPerSecond: 1024 }, { at: 100.5, bytesPerSecond: 1024 }]);
  });
});
