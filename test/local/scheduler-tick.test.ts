import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { schedulerTick } from '#local/scheduler-tick.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { dueJobs } from '#core/schedule/due.ts';
import { samplePolicy, sampleImage, sampleJob } from '../contracts/fixtures.ts';

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

  it('starts each due schedule once, and nothing again until its frequency has passed', async () => {
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
    const later = await Promise.all(await schedulerTick(rt));
    expect(later.map((r) => r.statusCode)).toEqual([0]);
    expect((await rt.catalog.listImages({ client: 'h1' })).length).toBe(2);
  });
});

describe('dueJobs', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const policy = samplePolicy('p', {
    priority: 5,
    clients: [{ name: 'b', priority: 20 }, { name: 'a', priority: 10 }],
    schedules: [{ name: 'daily', type: 'full', frequency: 86400, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', duration: 86400 }], retention: { days: 7 } }],
  });

  it('orders the worklist by policy priority, then client priority, and says why', () => {
    const low = samplePolicy('low', { priority: 1, clients: [{ name: 'z', priority: 1 }], schedules: policy.schedules });
    const { due } = dueJobs({ policies: [low, policy], images: [], jobsInFlight: [], now });
    expect(due.map((d) => `${d.policy}/${d.client}`)).toEqual(['p/a', 'p/b', 'low/z']);
    expect(due[0]!.reason).toBe('no successful backup yet');
  });

  it('is not due while a job is in flight or the last success is younger than the frequency', () => {
    const recent = sampleImage('a', new Date(now.getTime() - 3600_000), { policy: 'p', schedule: 'daily' });
    const { due, notDue } = dueJobs({ policies: [policy], images: [recent], jobsInFlight: [sampleJob(1, { policy: 'p', client: 'b', schedule: 'daily', state: 'ACTIVE' })], now });
    expect(due).toEqual([]);
    expect(notDue.map((n) => n.reason)).toEqual([expect.stringMatching(/^next due in 82800 s/), 'a job for it is already queued or active']);
  });
});
