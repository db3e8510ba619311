import { describe, expect, it } from 'vitest';
import { dueJobs, type DueJob } from '#core/schedule/due.ts';
import { Policy, weekdays } from '#core/model/policy.ts';
import type { Image } from '#core/model/image.ts';
import type { Job } from '#core/model/job.ts';
import { sampleImage, sampleJob } from '../contracts/fixtures.ts';
import { asKind } from '#core/model/job.ts';

const hourly = Policy.parse({
  name: 'hourly',
  timeZone: 'UTC',
  clients: [{ name: 'db01' }],
  selections: ['/var/lib/db'],
  storageUnit: 'disk1',
  schedules: [{ name: 'incr', type: 'differential-incremental', frequency: '1h', windows: [{ days: [...weekdays], start: '00:00', duration: '24h' }] }],
});
const DAY_START = Date.parse('2026-11-23T00:00:00Z');

/**
 * A simulated day of scheduler ticks every 5 minutes against a fake clock.
 * Each due job "runs" at once: `outcome` says whether it catalogues an image.
 */
function simulateDay(outcome: (due: DueJob, now: Date) => 'success' | 'failure'): { started: DueJob[]; jobs: Job[] } {
  const images: Image[] = [];
  const jobs: Job[] = [];
  const started: DueJob[] = [];
  for (let t = DAY_START; t < DAY_START + 86_400_000; t += 5 * 60_000) {
    const now = new Date(t);
    for (const due of dueJobs({ policies: [hourly], images, jobs, now }).due) {
      started.push(due);
      const ok = outcome(due, now) === 'success';
      jobs.push(sampleJob(jobs.length + 1, { policy: due.policy, client: due.client, schedule: due.schedule, level: due.level, state: 'DONE', statusCode: ok ? 0 : 84, windowStart: due.windowStart, dueAt: due.dueSince, executionName: due.executionName }));
      if (ok) images.push(sampleImage(due.client, now, { policy: due.policy, schedule: due.schedule, level: due.level }));
    }
  }
  return { started, jobs };
}

describe('an hourly schedule in a 24-hour window', () => {
  it('runs 24 jobs in a simulated day, one per due instant, each with its own execution name', () => {
    const { started } = simulateDay(() => 'success');

    expect(started.map((d) => d.dueSince)).toEqual(Array.from({ length: 24 }, (_, h) => new Date(DAY_START + h * 3_600_000).toISOString()));
    expect(started.every((d) => d.windowStart === '2026-11-23T00:00:00.000Z')).toBe(true);
    expect(new Set(started.map((d) => d.executionName)).size).toBe(24);
    expect(started[1]?.executionName).toBe(`hourly.db01.incr.${(DAY_START + 3_600_000) / 1000}`);
  });

  it('goes on with the next hour after a job that failed, without a second job for the failed due instant', () => {
    // The 03:00 job fails (status 84): no image, so the last success stays 02:00 and 03:00 has its job: 04:00 is next.
    const { started, jobs } = simulateDay((due) => (due.dueSince === '2026-11-23T03:00:00.000Z' ? 'failure' : 'success'));

    expect(started).toHaveLength(24);
    expect(started.map((d) => d.dueSince.slice(11, 16))).toEqual(Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`));
    expect(started[4]?.reason).toBe('last success db01_1795399200 is older than the frequency 1h; job 4 already ran for due instant 2026-11-23T03:00:00.000Z');
    expect(jobs.filter((j) => j.statusCode !== 0).map((j) => asKind(j, 'backup')?.dueAt)).toEqual(['2026-11-23T03:00:00.000Z']);
  });

  it('says why it is not due between two due instants', () => {
    const images = [sampleImage('db01', new Date('2026-11-23T05:00:00Z'), { policy: 'hourly', schedule: 'incr' })];
    const jobs = [sampleJob(1, { policy: 'hourly', client: 'db01', schedule: 'incr', state: 'DONE', statusCode: 0, dueAt: '2026-11-23T05:00:00.000Z' })];

    const { due, notDue } = dueJobs({ policies: [hourly], images, jobs, now: new Date('2026-11-23T05:40:00Z') });

    expect(due).toEqual([]);
    expect(notDue.map((n) => n.reason)).toEqual(['frequency 1h not reached: last success db01_1795410000, due again 2026-11-23T06:00:00.000Z']);
  });
});
