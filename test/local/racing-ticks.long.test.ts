import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FakeClock } from '#core/ports/clock.ts';
import type { TickResult } from '#core/schedule/tick.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { asKind } from '#core/model/job.ts';

const PAIRS = 1000;
const STEP_MS = 3 * 60_000;
const HOUR_MS = 3_600_000;

/**
 * The standalone runtime under racing timers: two runtimes on one CAIRN_HOME
 * (two SQLite connections, as two `cairn local serve` processes hold it), each
 * with its own scheduler and starter, tick at the same time, 1,000 times; the
 * clock moves 3 minutes between pairs, so an hourly schedule in an all-day
 * window has a new due instant every 20 pairs. The real job engine runs every
 * job that starts. Exactly one job per due instant, none failed.
 */
it('1,000 racing double ticks start exactly one job per due instant and fail none', { timeout: 120_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'cairn-racing-'));
  // Hour-aligned and in the recent past: backup ids are stamped from this clock.
  const start = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000;
  const clock = new FakeClock(new Date(start));
  const home = join(work, 'home');
  const [one, two] = [await openLocalRuntime({ home, clock }), await openLocalRuntime({ home, clock })];
  try {
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'f.txt'), 'hello');
    await one.config.putPolicy(
      samplePolicy('hourly', {
        selections: [join(work, 'data')],
        storageUnit: 'local-disk',
        clients: [{ name: 'h1', priority: 1 }],
        schedules: [{ name: 'incr', type: 'full', frequency: 3600, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', duration: 86400 }], retention: { days: 7 } }],
      }),
    );
    const runs: BackupRun[] = [];
    const onEnded = (_name: string, run: BackupRun): void => void runs.push(run);
    const [a, b] = [localScheduler(one, { onEnded }), localScheduler(two, { onEnded })];
    const ticks: TickResult[] = [];

    for (let pair = 0; pair < PAIRS; pair++) {
      ticks.push(...(await Promise.all([a.tick(), b.tick()])));
      await Promise.all([a.settled(), b.settled()]);
      clock.advance(STEP_MS);
    }

    const dueInstants = Math.floor(((PAIRS - 1) * STEP_MS) / HOUR_MS) + 1;
    const expectedDueAt = Array.from({ length: dueInstants }, (_, h) => new Date(start + h * HOUR_MS).toISOString());
    const started = ticks.flatMap((t) => t.started);
    const jobs = (await one.jobs.list({ limit: 5000 })).reverse();
    expect(started).toHaveLength(dueInstants);
    expect(new Set(started).size).toBe(dueInstants);
    expect(jobs.map((j) => asKind(j, 'backup')?.dueAt)).toEqual(expectedDueAt);
    expect(jobs.map((j) => j.executionName).sort()).toEqual([...started].sort());
    expect(jobs.filter((j) => j.state !== 'DONE' || j.statusCode !== 0)).toEqual([]);
    expect(runs).toHaveLength(dueInstants);
    expect(runs.filter((r) => r.statusCode !== 0)).toEqual([]);
    // The race was real: the losing tick of a pair saw the job due too, and was told it was already started.
    expect(ticks.flatMap((t) => t.alreadyStarted).length).toBeGreaterThan(0);
    expect(await one.catalog.listImages({ client: 'h1' })).toHaveLength(dueInstants);
  } finally {
    one.close();
    two.close();
    rmSync(work, { recursive: true, force: true });
  }
});
