import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { schedulerTick } from '#local/scheduler-tick.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

describe('the standalone scheduler tick', () => {
  let work: string;
  let rt: LocalRuntime;
  // The agent stamps images with the clock too, so the fake clock must be near real time for backup ids to be sane.
  const clock = new FakeClock(new Date());
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-tick-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'f.txt'), 'hello');
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('starts each due schedule once per window, and again in the next window', async () => {
    await rt.config.putPolicy(
      samplePolicy('hourly', {
        selections: [join(work, 'data')],
        storageUnit: 'local-disk',
        clients: [{ name: 'h1', priority: 1 }],
        schedules: [{ name: 'incr', type: 'full', frequency: 3600, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
      }),
    );
    const first = await Promise.all(await schedulerTick(rt));
    expect(first.map((r) => r.statusCode)).toEqual([0]);
    expect(await schedulerTick(rt)).toEqual([]);
    clock.advance(3601_000);
    // Still the same window opening: one job per (policy, client, schedule, window).
    expect(await schedulerTick(rt)).toEqual([]);
    clock.advance(86_400_000);
    const later = await Promise.all(await schedulerTick(rt));
    expect(later.map((r) => r.statusCode)).toEqual([0]);
    expect((await rt.catalog.listImages({ client: 'h1' })).length).toBe(2);
  });
});

it('starts a due job once when two ticks race', async () => {
  const work = mkdtempSync(join(tmpdir(), 'cairn-race-'));
  const rt = await openLocalRuntime({ home: join(work, 'home') });
  try {
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'f.txt'), 'hello');
    await rt.config.putPolicy(
      samplePolicy('race', {
        selections: [join(work, 'data')],
        storageUnit: 'local-disk',
        clients: [{ name: 'h1', priority: 1 }],
        schedules: [{ name: 'full', type: 'full', frequency: 3600, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
      }),
    );
    const [a, b] = await Promise.all([schedulerTick(rt), schedulerTick(rt)]);
    const runs = await Promise.all([...a!, ...b!]);
    expect(runs.filter((r) => r.statusCode === 0)).toHaveLength(1);
    expect((await rt.jobs.list()).map((j) => j.executionName)).toHaveLength(1);
    expect(await rt.catalog.listImages()).toHaveLength(1);
  } finally {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  }
});
