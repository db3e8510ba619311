import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, DEFAULT_STORAGE_UNIT, type LocalRuntime } from '#local/runtime.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { weekdays } from '#core/model/policy.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createSchedulerHandler, type TickResult } from '#lambdas/scheduler-handler.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';

/** Tuesday 22:30 UTC, inside the nightly window that opened at 20:00. */
const NOW = '2026-11-24T22:30:00.000Z';
const WINDOW_START = '2026-11-24T20:00:00.000Z';
const WINDOW_END = '2026-11-25T04:00:00.000Z';
const nameOf = (client: string) => `nightly.${client}.daily.${Date.parse(WINDOW_START) / 1000}`;

describe('the scheduler tick', () => {
  let home: string;
  let rt: LocalRuntime;
  let clock: FakeClock;
  let starter: MemoryExecutionStarter;
  let tick: (event?: unknown) => Promise<TickResult>;

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'cairn-scheduler-'));
    clock = new FakeClock(NOW);
    rt = await openLocalRuntime({ home, clock });
    // client2 has priority 10, client1 the default 500: client2 comes first in the worklist.
    await rt.config.putPolicy(
      samplePolicy('nightly', {
        storageUnit: DEFAULT_STORAGE_UNIT,
        schedules: [{ name: 'daily', type: 'full', frequency: 86_400, windows: [{ days: [...weekdays], start: '20:00', duration: 8 * 3600 }], retention: { days: 14 } }],
      }),
    );
    starter = new MemoryExecutionStarter();
    tick = createSchedulerHandler({ config: rt.config, catalog: rt.catalog, jobs: rt.jobs, starter, clock });
  });
  afterEach(() => {
    rt.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('starts one execution per due job, named from (policy, client, schedule, due instant), in worklist order', async () => {
    const result = await tick({});

    expect(result).toEqual({ at: NOW, started: [nameOf('client2'), nameOf('client1')], alreadyStarted: [], notDue: 0 });
    expect(starter.executions.calls).toEqual([
      {
        name: nameOf('client2'),
        input: { request: { policy: 'nightly', client: 'client2', schedule: 'daily', level: 'full', windowStart: WINDOW_START, windowEnd: WINDOW_END, dueAt: WINDOW_START, executionName: nameOf('client2') } },
      },
      {
        name: nameOf('client1'),
        input: { request: { policy: 'nightly', client: 'client1', schedule: 'daily', level: 'full', windowStart: WINDOW_START, windowEnd: WINDOW_END, dueAt: WINDOW_START, executionName: nameOf('client1') } },
      },
    ]);
  });

  it('starts nothing twice when it runs again before the jobs are queued: the starter reports them already started', async () => {
    await tick({});

    const again = await tick({});

    expect(again).toEqual({ at: NOW, started: [], alreadyStarted: [nameOf('client2'), nameOf('client1')], notDue: 0 });
    expect(starter.executions.calls.map((c) => c.name)).toEqual([nameOf('client2'), nameOf('client1'), nameOf('client2'), nameOf('client1')]);
    expect([...starter.executions.started.keys()]).toEqual([nameOf('client2'), nameOf('client1')]);
  });

  it('gives the Queue state a request it accepts, and once the job is queued it is no longer due', async () => {
    await tick({});
    const jobs = createJobsHandler(rt);
    const input = starter.executions.started.get(nameOf('client1')) as { request: unknown };

    const ref = (await jobs({ action: 'queue', request: input.request })) as { jobId: number };
    clock.advance(60_000);
    const next = await tick({});

    expect(await rt.jobs.get(ref.jobId)).toMatchObject({ state: 'QUEUED', client: 'client1', windowStart: WINDOW_START, dueAt: WINDOW_START, executionName: nameOf('client1') });
    expect(next.started).toEqual([]);
    expect(next.alreadyStarted).toEqual([nameOf('client2')]);
    expect(next.notDue).toBe(1);
  });

  it('starts nothing while scheduling is suspended', async () => {
    await rt.config.putSetting('schedulerSuspended', true);

    const result = await tick({});

    expect(result).toEqual({ at: NOW, started: [], alreadyStarted: [], notDue: 2 });
    expect(starter.executions.calls).toEqual([]);
  });

  it('starts the other due jobs when one cannot be started, then fails naming it', async () => {
    starter.executions.failing.add(nameOf('client2'));
    const logged: { level: string; message: string; data: unknown }[] = [];
    const logging = createSchedulerHandler({ config: rt.config, catalog: rt.catalog, jobs: rt.jobs, starter, clock, log: (level, message, data) => logged.push({ level, message, data }) });

    const error = await logging({}).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect([...starter.executions.started.keys()]).toEqual([nameOf('client1')]);
    expect(error?.name).toBe('Status2000');
    expect(error?.message).toMatch(/could not start 1 of 2 due jobs \(started 1\)/);
    const detail = `${nameOf('client2')}: StartExecution ${nameOf('client2')} failed: ThrottlingException`;
    // The workflow error carries the details in its message; the log keeps them apart.
    expect(error?.message).toBe(`scheduler tick at ${NOW} could not start 1 of 2 due jobs (started 1): ${detail}`);
    expect(logged).toEqual([{ level: 'error', message: 'scheduler tick failed', data: { message: `scheduler tick at ${NOW} could not start 1 of 2 due jobs (started 1)`, details: [detail] } }]);
  });

  it('logs the outcome of every tick', async () => {
    const logged: unknown[] = [];
    const logging = createSchedulerHandler({ config: rt.config, catalog: rt.catalog, jobs: rt.jobs, starter, clock, log: (level, message, data) => logged.push({ level, message, data }) });

    const result = await logging({});

    expect(logged).toEqual([{ level: 'info', message: 'scheduler tick', data: result }]);
  });
});
