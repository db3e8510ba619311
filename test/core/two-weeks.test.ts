import { describe, expect, it } from 'vitest';
import { dueJobs } from '#core/schedule/due.ts';
import { Policy } from '#core/model/policy.ts';
import type { Image } from '#core/model/image.ts';
import type { Job } from '#core/model/job.ts';
import { sampleImage, sampleJob } from '../contracts/fixtures.ts';

/**
 * Two weeks of scheduler ticks every 5 minutes against a fake clock. Every due
 * job "runs" at once and succeeds. The policy: daily differential
 * incrementals (every day, window 20:00 for 6 h) and a weekly full in a
 * Saturday window (20:00 for 10 h), so on Saturdays both are due together.
 */
describe('fourteen simulated days', () => {
  it('produce exactly the expected job list', () => {
    const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
    const policy = Policy.parse({
      name: 'office',
      timeZone: 'UTC',
      clients: [{ name: 'fs01' }],
      selections: ['/srv'],
      storageUnit: 'disk1',
      schedules: [
        { name: 'daily-incr', type: 'differential-incremental', frequency: '1d', windows: [{ days: everyDay, start: '20:00', duration: '6h' }] },
        { name: 'weekly-full', type: 'full', frequency: '1w', windows: [{ days: ['sat'], start: '20:00', duration: '10h' }] },
      ],
    });
    const images: Image[] = [];
    const jobs: Job[] = [];
    const started: string[] = [];
    const start = Date.parse('2026-11-02T03:00:00Z'); // a Monday, after Sunday's window closed
    for (let t = start; t < start + 14 * 86_400_000; t += 5 * 60_000) {
      const now = new Date(t);
      for (const due of dueJobs({ policies: [policy], images, jobs, now }).due) {
        started.push(`${now.toISOString().slice(0, 16)} ${due.schedule}`);
        jobs.push(sampleJob(jobs.length + 1, { policy: due.policy, client: due.client, schedule: due.schedule, level: due.level, state: 'DONE', statusCode: 0, windowStart: due.windowStart }));
        images.push(sampleImage(due.client, now, { policy: due.policy, schedule: due.schedule, level: due.level }));
      }
    }
    expect(started).toEqual([
      '2026-11-02T20:00 daily-incr', // Monday: nothing ran before, the window opens
      '2026-11-03T20:00 daily-incr',
      '2026-11-04T20:00 daily-incr',
      '2026-11-05T20:00 daily-incr',
      '2026-11-06T20:00 daily-incr',
      '2026-11-07T20:00 weekly-full', // Saturday: both due, the longer frequency wins; the full covers the day's incremental
      '2026-11-08T20:00 daily-incr',
      '2026-11-09T20:00 daily-incr',
      '2026-11-10T20:00 daily-incr',
      '2026-11-11T20:00 daily-incr',
      '2026-11-12T20:00 daily-incr',
      '2026-11-13T20:00 daily-incr',
      '2026-11-14T20:00 weekly-full', // a week after the last full
      '2026-11-15T20:00 daily-incr',
    ]);
  });
});
