import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dueJobs, executionNameFor } from '#core/schedule/due.ts';
import { openWindowAt } from '#core/schedule/windows.ts';
import { Policy, weekdays, type PolicyInput } from '#core/model/policy.ts';
import { sampleImage, sampleJob } from '../contracts/fixtures.ts';

const everyDay = [...weekdays];
const policyOf = (input: Partial<PolicyInput> & { name: string }): Policy =>
  Policy.parse({ clients: [{ name: 'c1' }], selections: ['/data'], storageUnit: 'disk1', schedules: [{ name: 'full', type: 'full' }], ...input });

describe('due computation', () => {
  it('is due at the window start when there is no successful backup yet, and names the execution', () => {
    const policy = policyOf({ name: 'nightly', schedules: [{ name: 'incr', type: 'differential-incremental', frequency: '1d', windows: [{ days: everyDay, start: '22:00', duration: '8h' }] }] });
    const { due } = dueJobs({ policies: [policy], images: [], jobs: [], now: new Date('2026-11-23T23:00:00Z') });
    expect(due).toEqual([
      {
        policy: 'nightly',
        client: 'c1',
        schedule: 'incr',
        level: 'differential-incremental',
        windowStart: '2026-11-23T22:00:00.000Z',
        windowEnd: '2026-11-24T06:00:00.000Z',
        dueSince: '2026-11-23T22:00:00.000Z',
        reason: 'no successful backup yet',
        executionName: 'nightly.c1.incr.1795471200',
      },
    ]);
  });

  it('says why not: outside the window, frequency not reached, in flight, already ran for the due instant, inactive, suspended', () => {
    const schedules = [{ name: 'daily', type: 'full' as const, frequency: '1d', windows: [{ days: everyDay, start: '20:00', duration: '4h' }] }];
    const policy = policyOf({ name: 'p', schedules });
    const now = new Date('2026-11-23T21:00:00Z');
    const reasons = (input: Partial<Parameters<typeof dueJobs>[0]>): string[] => dueJobs({ policies: [policy], images: [], jobs: [], now, ...input }).notDue.map((n) => n.reason);
    expect(reasons({ now: new Date('2026-11-23T12:00:00Z') })).toEqual(['no start window is open; the next opens 2026-11-23T20:00:00.000Z']);
    expect(reasons({ images: [sampleImage('c1', new Date('2026-11-23T08:00:00Z'), { policy: 'p', schedule: 'daily' })] })[0]).toMatch(/^frequency 1d not reached: last success c1_1795420800, due again 2026-11-24T08:00:00.000Z/);
    expect(reasons({ jobs: [sampleJob(9, { policy: 'p', client: 'c1', schedule: 'daily', state: 'ACTIVE' })] })).toEqual(['job 9 for it is ACTIVE']);
    expect(reasons({ jobs: [sampleJob(9, { policy: 'p', client: 'c1', schedule: 'daily', state: 'DONE', statusCode: 84, dueAt: '2026-11-23T20:00:00.000Z', windowStart: '2026-11-23T20:00:00.000Z' })] })).toEqual([
      'job 9 already started for due instant 2026-11-23T20:00:00.000Z; the next due instant is 2026-11-24T20:00:00.000Z',
    ]);
    // A job recorded before due instants existed stands for its window opening.
    expect(reasons({ jobs: [sampleJob(9, { policy: 'p', client: 'c1', schedule: 'daily', state: 'DONE', statusCode: 84, windowStart: '2026-11-23T20:00:00.000Z' })] })).toEqual([
      'job 9 already started for due instant 2026-11-23T20:00:00.000Z; the next due instant is 2026-11-24T20:00:00.000Z',
    ]);
    expect(dueJobs({ policies: [{ ...policy, active: false }], images: [], jobs: [], now }).notDue[0]?.reason).toBe('policy is inactive');
    expect(reasons({ suspended: true })).toEqual(['scheduling is suspended (cairn schedule resume)']);
  });

  it('lets the longest frequency win when a full and an incremental are due together', () => {
    const windows = [{ days: everyDay, start: '00:00', duration: '1d' }];
    const policy = policyOf({ name: 'p', schedules: [{ name: 'incr', type: 'differential-incremental', frequency: '1d', windows }, { name: 'weekly', type: 'full', frequency: '1w', windows }] });
    const { due, notDue } = dueJobs({ policies: [policy], images: [], jobs: [], now: new Date('2026-11-23T10:00:00Z') });
    expect(due.map((d) => d.schedule)).toEqual(['weekly']);
    expect(notDue).toEqual([{ policy: 'p', client: 'c1', schedule: 'incr', reason: 'due, but schedule weekly of the same client has the longer frequency and runs instead' }]);
  });

  it('handles a window that crosses midnight: it belongs to the day it opened on', () => {
    const policy = policyOf({ name: 'p', schedules: [{ name: 'fri', type: 'full', calendar: { weekdays: ['fri'] }, windows: [{ days: ['fri'], start: '22:00', duration: '8h' }] }] });
    // 2026-11-27 is a Friday.
    expect(dueJobs({ policies: [policy], images: [], jobs: [], now: new Date('2026-11-28T03:00:00Z') }).due[0]).toMatchObject({ windowStart: '2026-11-27T22:00:00.000Z', reason: 'calendar run day: 2026-11-27 is a fri' });
    expect(dueJobs({ policies: [policy], images: [], jobs: [], now: new Date('2026-11-28T06:00:00Z') }).due).toEqual([]);
  });

  it('reads windows in the policy time zone across DST changes', () => {
    const berlin = (start: string, duration: string): Policy =>
      policyOf({ name: 'p', timeZone: 'Europe/Berlin', schedules: [{ name: 's', type: 'full', frequency: '1d', windows: [{ days: ['sun'], start, duration }] }] });
    // 2026-03-29 02:00 CET jumps to 03:00 CEST: a 02:30 start does not exist and moves forward to 03:30 CEST (01:30Z).
    expect(openWindowAt(berlin('02:30', '1h').schedules[0]!.windows, 'Europe/Berlin', new Date('2026-03-29T01:45:00Z'))?.start.toISOString()).toBe('2026-03-29T01:30:00.000Z');
    // 2026-10-25 03:00 CEST falls back to 02:00 CET: a 3 h window from 01:00 CEST (23:00Z) lasts 3 real hours.
    const fallBack = berlin('01:00', '3h').schedules[0]!.windows;
    expect(openWindowAt(fallBack, 'Europe/Berlin', new Date('2026-10-25T01:30:00Z'))?.end.toISOString()).toBe('2026-10-25T02:00:00.000Z');
    expect(openWindowAt(fallBack, 'Europe/Berlin', new Date('2026-10-25T02:00:00Z'))).toBeUndefined();
    // Summer: 22:00 local is 20:00Z.
    expect(dueJobs({ policies: [berlin('22:00', '2h')], images: [], jobs: [], now: new Date('2026-07-05T20:30:00Z') }).due[0]?.windowStart).toBe('2026-07-05T20:00:00.000Z');
  });

  it('runs calendar schedules on the last day of the month and skips excluded dates', () => {
    const policy = policyOf({ name: 'm', schedules: [{ name: 'monthly', type: 'full', calendar: { lastDayOfMonth: true, excludeDates: ['2026-12-31'] }, windows: [{ days: everyDay, start: '01:00', duration: '4h' }] }] });
    const at = (iso: string): string[] => {
      const r = dueJobs({ policies: [policy], images: [], jobs: [], now: new Date(iso) });
      return [...r.due.map((d) => d.reason), ...r.notDue.map((n) => n.reason)];
    };
    expect(at('2026-02-28T02:00:00Z')).toEqual(['calendar run day: 2026-02-28 is the last day of the month']);
    expect(at('2026-02-27T02:00:00Z')).toEqual(['2026-02-27 is not a run day of the calendar']);
    expect(at('2026-12-31T02:00:00Z')).toEqual(['2026-12-31 is an excluded date']);
    const done = sampleImage('c1', new Date('2026-02-28T01:30:00Z'), { policy: 'm', schedule: 'monthly' });
    expect(dueJobs({ policies: [policy], images: [done], jobs: [], now: new Date('2026-02-28T03:00:00Z') }).notDue[0]?.reason).toMatch(/already backed up on run day 2026-02-28/);
  });

  it('keeps execution names within the 80 characters Step Functions allows', () => {
    const long = 'x'.repeat(64);
    const name = executionNameFor(long, long, long, new Date('2026-11-23T00:00:00Z'));
    expect(name.length).toBe(80);
    expect(name).not.toBe(executionNameFor(long, long, `${long.slice(1)}y`, new Date('2026-11-23T00:00:00Z')));
  });
});

describe('due computation properties', () => {
  const arbWindow = fc.record({
    days: fc.subarray([...weekdays], { minLength: 1 }),
    start: fc.tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45)).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
    duration: fc.integer({ min: 1, max: 48 }).map((h) => h * 3600),
  });
  const arbSchedule = (name: string) =>
    fc.record({ name: fc.constant(name), type: fc.constantFrom('full', 'differential-incremental', 'cumulative-incremental'), frequency: fc.integer({ min: 1, max: 14 * 24 }).map((h) => h * 3600), windows: fc.array(arbWindow, { minLength: 1, maxLength: 3 }) });
  const arbPolicy = (name: string) =>
    fc.record({
      name: fc.constant(name),
      priority: fc.integer({ min: 0, max: 10 }),
      timeZone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'),
      clients: fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd'), priority: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 3, selector: (c) => c.name }),
      schedules: fc.tuple(arbSchedule('s1'), arbSchedule('s2')).map((s) => [...s]),
    }).map((p) => policyOf(p as never));
  const arbNow = fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2027-12-31T00:00:00Z'), noInvalidDate: true });
  const arbInput = fc.record({ policies: fc.tuple(arbPolicy('p1'), arbPolicy('p2')).map((p) => [...p]), now: arbNow });

  it('is never due outside an open window', () => {
    fc.assert(
      fc.property(arbInput, ({ policies, now }) => {
        for (const job of dueJobs({ policies, images: [], jobs: [], now }).due) {
          expect(new Date(job.windowStart) <= now && now < new Date(job.windowEnd)).toBe(true);
          const schedule = policies.find((p) => p.name === job.policy)!.schedules.find((s) => s.name === job.schedule)!;
          expect(openWindowAt(schedule.windows, policies.find((p) => p.name === job.policy)!.timeZone, now)).toBeDefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never gives one (policy, client, schedule, due instant) a second job, and names each due instant differently', () => {
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 0, max: 3 * 86_400 }), ({ policies, now }, laterSeconds) => {
        const first = dueJobs({ policies, images: [], jobs: [], now }).due;
        expect(new Set(first.map((d) => `${d.policy}/${d.client}`)).size).toBe(first.length);
        // The jobs ended without a backup (status 13): nothing in the catalog moves the due instant on.
        const started = first.map((d, i) => sampleJob(i + 1, { policy: d.policy, client: d.client, schedule: d.schedule, state: 'DONE', statusCode: 13, windowStart: d.windowStart, dueAt: d.dueSince }));
        const later = new Date(now.getTime() + laterSeconds * 1000);
        for (const again of dueJobs({ policies, images: [], jobs: started, now: later }).due) {
          const before = first.find((d) => d.policy === again.policy && d.client === again.client && d.schedule === again.schedule);
          if (!before) continue;
          expect(again.dueSince).not.toBe(before.dueSince);
          expect(again.executionName).not.toBe(before.executionName);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('orders the worklist by policy priority, then client priority', () => {
    fc.assert(
      fc.property(arbInput, ({ policies, now }) => {
        const due = dueJobs({ policies, images: [], jobs: [], now }).due;
        const rank = (d: (typeof due)[number]): [number, number] => {
          const policy = policies.find((p) => p.name === d.policy)!;
          return [-policy.priority, policy.clients.find((c) => c.name === d.client)!.priority];
        };
        for (let i = 1; i < due.length; i++) {
          const [a, b] = [rank(due[i - 1]!), rank(due[i]!)];
          expect(a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1])).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets a full win over an incremental due at the same time', () => {
    fc.assert(
      fc.property(arbWindow, arbNow, fc.integer({ min: 1, max: 30 }), (window, now, days) => {
        const policy = policyOf({
          name: 'p',
          schedules: [
            { name: 'incr', type: 'differential-incremental', frequency: days * 86400, windows: [window] },
            { name: 'full', type: 'full', frequency: (days + 1) * 86400, windows: [window] },
          ],
        });
        const due = dueJobs({ policies: [policy], images: [], jobs: [], now }).due;
        expect(due.every((d) => d.schedule === 'full')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
