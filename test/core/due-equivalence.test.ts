import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dueJobs, type DueInput } from '#core/schedule/due.ts';
import { Policy, weekdays, type PolicyInput } from '#core/model/policy.ts';
import type { Image } from '#core/model/image.ts';
import type { Job } from '#core/model/job.ts';
import { sampleImage, sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';
import { generateDueInput, defaultShape } from '../../bench/due.ts';
import { referenceDueJobs } from './due-reference.ts';

/**
 * The fast due computation (issue 8: window openings shared per windows and
 * time zone, history indexed once per call) against the frozen copy of the
 * one before it (due-reference.ts): same due jobs in the same order, same
 * not-due reasons, on generated inputs dense in the cases that decide —
 * jobs and images on the quarter hours window openings fall on, ties in
 * image times, in-flight jobs, calendars, several zones, DST.
 */
function expectSame(input: DueInput): void {
  expect(dueJobs(input)).toEqual(referenceDueJobs(input));
}

const HOUR = 3_600_000;
const policyNames = ['p1', 'p2', 'p3'];
const clientNames = ['a', 'b', 'c', 'd'];
const scheduleNames = ['s1', 's2', 's3'];
const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Santiago'];
const levels = ['full', 'differential-incremental', 'cumulative-incremental'] as const;

const arbWindow = fc.record({
  days: fc.subarray([...weekdays], { minLength: 1 }),
  start: fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45)).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
    // Few distinct starts, so windows of one schedule open together (and, across a DST gap, 02:30 and 03:30 are one instant).
    fc.constantFrom('00:00', '22:00', '02:30', '03:30'),
  ),
  duration: fc.integer({ min: 1, max: 7 * 24 }).map((h) => h * 3600),
});
const arbCalendar = fc.record({
  weekdays: fc.subarray([...weekdays]),
  daysOfMonth: fc.subarray([1, 2, 15, 28, 29, 30, 31]),
  lastDayOfMonth: fc.boolean(),
  dates: fc.subarray(['2026-03-29', '2026-10-25', '2026-11-24', '2027-02-28']),
  excludeDates: fc.subarray(['2026-03-29', '2026-11-24', '2026-12-31']),
}).filter((c) => c.weekdays.length + c.daysOfMonth.length + c.dates.length > 0 || c.lastDayOfMonth);
const arbSchedule = (name: string) =>
  fc.record({
    name: fc.constant(name),
    type: fc.constantFrom(...levels),
    when: fc.oneof(
      fc.constantFrom(3600, 2 * 3600, 86_400, 7 * 86_400).map((frequency) => ({ frequency })),
      fc.integer({ min: 1, max: 14 * 24 }).map((h) => ({ frequency: h * 3600 })),
      arbCalendar.map((calendar) => ({ calendar })),
      fc.constant({}),
    ),
    windows: fc.array(arbWindow, { minLength: 1, maxLength: 3 }),
  }).map(({ when, ...s }) => ({ ...s, ...when }));
const arbPolicy = (name: string) =>
  fc.record({
    name: fc.constant(name),
    active: fc.constantFrom(true, true, true, false),
    priority: fc.integer({ min: 0, max: 3 }),
    timeZone: fc.constantFrom(...zones),
    clients: fc.uniqueArray(fc.record({ name: fc.constantFrom(...clientNames), priority: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 4, selector: (c) => c.name }),
    schedules: fc.uniqueArray(fc.constantFrom(...scheduleNames), { minLength: 1, maxLength: 3 }).chain((names) => fc.tuple(...names.map(arbSchedule))),
  }).map((p) => Policy.parse({ selections: ['/data'], storageUnit: 'disk1', ...p } as PolicyInput));

/** Instants on the quarter hour within the last days before `now`: window openings and due instants fall on them. */
const arbRecent = (now: Date) => fc.integer({ min: 0, max: 4 * 96 }).map((q) => new Date(Math.floor(now.getTime() / 900_000) * 900_000 - q * 900_000));
/** A few instants only, so images of several schedules of one client are equally new (the catalog's order decides). */
const arbTied = (now: Date) => fc.constantFrom(1, 25, 169).map((hours) => new Date(Math.floor(now.getTime() / HOUR) * HOUR - hours * HOUR));
const arbNow = fc.oneof(
  fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2027-12-31T00:00:00Z'), noInvalidDate: true }),
  // Around DST changes in Europe, North America, Lord Howe and Santiago.
  fc.constantFrom('2026-03-29T01:45:00Z', '2026-10-25T01:30:00Z', '2026-03-08T07:30:00Z', '2026-11-01T06:15:00Z', '2026-04-04T15:00:00Z', '2026-10-03T16:00:00Z', '2026-04-05T03:30:00Z', '2026-09-06T04:00:00Z').map((iso) => new Date(iso)),
);
const arbName = (names: string[]) => fc.constantFrom(...names, 'other');

const arbInput: fc.Arbitrary<DueInput> = fc
  .record({ policies: fc.uniqueArray(fc.constantFrom(...policyNames), { minLength: 1, maxLength: 3 }).chain((names) => fc.tuple(...names.map(arbPolicy))), now: arbNow, suspended: fc.constantFrom(false, false, false, true, undefined) })
  .chain(({ policies, now, suspended }) =>
    fc.record({
      images: fc.array(
        fc.record({ policy: arbName(policyNames), client: arbName(clientNames), schedule: arbName(scheduleNames), level: fc.constantFrom(...levels), statusCode: fc.constantFrom(0, 0, 1, 84), at: fc.oneof(arbRecent(now), arbTied(now)) }),
        { maxLength: 25 },
      ).map((specs) => specs.map(({ client, at, ...rest }, i) => sampleImage(client, at, { ...rest, backupId: `${client}_${at.getTime() / 1000}_${i}` }))),
      jobs: fc.array(
        fc.oneof(
          { weight: 9, arbitrary: fc.record({ policy: arbName(policyNames), client: arbName(clientNames), schedule: arbName(scheduleNames), state: fc.constantFrom('DONE', 'DONE', 'DONE', 'ACTIVE', 'QUEUED'), statusCode: fc.constantFrom(0, 13, 84), at: arbRecent(now), legacy: fc.boolean() }) },
          { weight: 1, arbitrary: fc.constant('restore' as const) },
        ),
        { maxLength: 20 },
      ).map((specs) =>
        specs.map((spec, i): Job => {
          if (spec === 'restore') return sampleRestoreJob(i + 1, { state: 'ACTIVE' });
          const { at, legacy, state, statusCode, ...rest } = spec;
          const instant = at.toISOString();
          return sampleJob(i + 1, { ...rest, state, ...(state === 'DONE' ? { statusCode } : {}), windowStart: instant, ...(legacy ? {} : { dueAt: instant }) });
        }),
      ),
    }).map(({ images, jobs }) => ({ policies, images, jobs, now, ...(suspended === undefined ? {} : { suspended }) })),
  );

describe('the fast due computation decides as the reference did', () => {
  it('on generated policies, images and jobs', () => {
    fc.assert(fc.property(arbInput, expectSame), { numRuns: 800 });
  });

  it('when images of several schedules that satisfy one another are equally new (the catalog order decides)', () => {
    const always = [{ days: [...weekdays], start: '00:00', duration: 7 * 86_400 }];
    const arbTies = fc
      .record({
        schedules: fc.tuple(...scheduleNames.map((name) => fc.record({ name: fc.constant(name), type: fc.constantFrom(...levels), frequency: fc.constantFrom(3600, 86_400, 7 * 86_400), windows: fc.constant(always) }))),
        now: arbNow,
      })
      .chain(({ schedules, now }) =>
        fc
          .array(fc.record({ client: fc.constantFrom('a', 'b'), schedule: fc.constantFrom(...scheduleNames), at: arbTied(now) }), { maxLength: 12 })
          .map((specs): DueInput => ({
            policies: [Policy.parse({ name: 'p1', clients: [{ name: 'a' }, { name: 'b' }], selections: ['/data'], storageUnit: 'disk1', schedules })],
            images: specs.map(({ client, schedule, at }, i) => sampleImage(client, at, { policy: 'p1', schedule, backupId: `${client}_${at.getTime() / 1000}_${i}` })),
            jobs: [],
            now,
          })),
      );
    fc.assert(fc.property(arbTies, expectSame), { numRuns: 300 });
  });

  it('on the benchmark installation, scaled down, with several seeds', () => {
    for (const seed of [1, 2, 3]) {
      const input = generateDueInput({ ...defaultShape, seed, policies: 12, clientsPerPolicy: 6, images: 400, jobs: 250, clientPool: 30 });
      for (const hours of [0, 5, 11, 17, 23]) expectSame({ ...input, now: new Date(defaultShape.now.getTime() - hours * HOUR) });
    }
  });

  it('at every tick of fourteen simulated days in several zones, as jobs run and succeed or fail', () => {
    const everyDay = [...weekdays];
    const policies = ['Europe/Berlin', 'Asia/Kolkata'].map((timeZone, i) =>
      Policy.parse({
        name: `office${i}`,
        timeZone,
        clients: i === 0 ? [{ name: 'fs01' }, { name: 'fs02', priority: 10 }] : [{ name: 'fs01' }],
        selections: ['/srv'],
        storageUnit: 'disk1',
        schedules: [
          { name: 'daily-incr', type: 'differential-incremental', frequency: '1d', windows: [{ days: everyDay, start: '20:00', duration: '6h' }] },
          { name: 'weekly-full', type: 'full', frequency: '1w', windows: [{ days: ['sat'], start: '20:00', duration: '10h' }] },
          { name: 'hourly', type: 'cumulative-incremental', frequency: '4h', windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '06:00', duration: '14h' }] },
          { name: 'monthly', type: 'full', calendar: { lastDayOfMonth: true, weekdays: ['wed'] }, windows: [{ days: everyDay, start: '23:30', duration: '3h' }] },
        ],
      }),
    );
    const images: Image[] = [];
    const jobs: Job[] = [];
    const start = Date.parse('2026-10-20T03:00:00Z'); // across the end of October and a DST change
    // Every 30 minutes: every window opens on the hour or the half hour.
    for (let t = start; t < start + 14 * 86_400_000; t += 30 * 60_000) {
      const input: DueInput = { policies, images: [...images], jobs: [...jobs], now: new Date(t) };
      const result = dueJobs(input);
      expect(result).toEqual(referenceDueJobs(input));
      for (const job of result.due) {
        const ok = (jobs.length + 1) % 7 !== 0; // every seventh job fails: no image, its due instant is used up
        jobs.push(sampleJob(jobs.length + 1, { policy: job.policy, client: job.client, schedule: job.schedule, level: job.level, state: 'DONE', statusCode: ok ? 0 : 84, windowStart: job.windowStart, dueAt: job.dueSince }));
        if (ok) images.push(sampleImage(job.client, new Date(t), { policy: job.policy, schedule: job.schedule, level: job.level }));
      }
    }
    expect(jobs.length).toBeGreaterThan(100);
  });
});
