import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { tickAndWait } from './tick-and-wait.ts';
import { asKind } from '#core/model/job.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

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

  it('starts an hourly schedule again an hour later inside the same window, once per due instant', async () => {
    await rt.config.putPolicy(
      samplePolicy('hourly', {
        selections: [join(work, 'data')],
        storageUnit: 'local-disk',
        clients: [{ name: 'h1', priority: 1 }],
        schedules: [{ name: 'incr', type: 'full', frequency: 3600, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
      }),
    );
    expect((await tickAndWait(rt)).map((r) => r.statusCode)).toEqual([0]);
    expect(await tickAndWait(rt)).toEqual([]);
    clock.advance(1800_000);
    expect(await tickAndWait(rt)).toEqual([]);
    // The frequency has run out: a new due instant, whether or not the window opened again.
    clock.advance(1801_000);
    expect((await tickAndWait(rt)).map((r) => r.statusCode)).toEqual([0]);
    const jobs = await rt.jobs.list();
    expect(jobs).toHaveLength(2);
    expect(new Set(jobs.map((j) => asKind(j, 'backup')?.dueAt)).size).toBe(2);
    expect((await rt.catalog.listImages({ client: 'h1' })).length).toBe(2);
  });
});

it('starts a due job once when two ticks race, and the other tick finds it already started', async () => {
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
        schedules: [{ name: 'full', type: 'full', frequency: 3600, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
      }),
    );
    const runs: BackupRun[] = [];
    const [a, b] = [localScheduler(rt, { onEnded: (_n, run) => runs.push(run) }), localScheduler(rt, { onEnded: (_n, run) => runs.push(run) })];

    const ticks = await Promise.all([a.tick(), b.tick()]);
    await Promise.all([a.settled(), b.settled()]);

    expect(ticks.flatMap((t) => t.started)).toHaveLength(1);
    expect(ticks.flatMap((t) => t.alreadyStarted)).toEqual(ticks.flatMap((t) => t.started));
    expect(runs.map((r) => r.statusCode)).toEqual([0]);
    expect((await rt.jobs.list()).map((j) => j.executionName)).toHaveLength(1);
    expect(await rt.catalog.listImages()).toHaveLength(1);
  } finally {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  }
});
