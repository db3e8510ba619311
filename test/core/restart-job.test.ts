import { describe, expect, it } from 'vitest';
import { RESTART_CLAIM_MS, restartRefusal, restartRequest } from '#core/jobs/restart-job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';

const NOW = new Date('2026-12-04T04:00:00.000Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();

describe('restarting a job', () => {
  it('runs an ended backup again with its policy, client, schedule, level, selections, unit and retention', () => {
    const job = sampleJob(7, { state: 'DONE', statusCode: 13 });
    expect(restartRefusal(job, NOW)).toBeUndefined();
    expect(restartRequest(job, NOW)).toEqual({ client: 'client1', policy: 'daily-home', schedule: 'full', level: 'full', selections: ['/home'], storageUnit: 'disk1', retentionDays: 14 });
  });

  it('leaves a manual backup without a policy (it names its paths)', () => {
    expect(restartRequest(sampleJob(7, { state: 'DONE', statusCode: 71, policy: 'manual', schedule: 'user' }), NOW)).not.toHaveProperty('policy');
  });

  it('refuses a job that has not ended and a job that is not a backup, with status 20 and the reason', () => {
    for (const [job, reason] of [
      [sampleJob(3, { state: 'ACTIVE' }), 'job 3 is ACTIVE; only an ended job can be restarted'],
      [sampleJob(4, { state: 'QUEUED' }), 'job 4 is QUEUED; only an ended job can be restarted'],
      [sampleRestoreJob(5, { state: 'DONE', statusCode: 0 }), 'job 5 is a restore job; only a backup job can be restarted'],
      // Restarted once already (the compare-and-swap of cli/job-restart.ts): one new job per ended job.
      [sampleJob(6, { state: 'DONE', statusCode: 13, restartedAs: 9 }), 'job 6 was restarted already, as job 9: restart that one'],
      [sampleJob(8, { state: 'DONE', statusCode: 13, restartedAs: 0, restartClaimedAt: ago(1000) }), 'job 8 is being restarted'],
    ] as const) {
      expect(restartRefusal(job, NOW)).toBe(reason);
      expect(() => restartRequest(job, NOW)).toThrow(expect.objectContaining({ statusCode: StatusCode.INVALID_COMMAND_USAGE, message: reason }));
    }
  });

  it('lets a claim lapse that a process left when it died before queuing: older than RESTART_CLAIM_MS, or with no time', () => {
    expect(restartRefusal(sampleJob(8, { state: 'DONE', statusCode: 13, restartedAs: 0, restartClaimedAt: ago(RESTART_CLAIM_MS - 1) }), NOW)).toBe('job 8 is being restarted');
    expect(restartRefusal(sampleJob(8, { state: 'DONE', statusCode: 13, restartedAs: 0, restartClaimedAt: ago(RESTART_CLAIM_MS) }), NOW)).toBeUndefined();
    expect(restartRefusal(sampleJob(8, { state: 'DONE', statusCode: 13, restartedAs: 0 }), NOW)).toBeUndefined();
    // A restart that queued its job is never undone by time.
    expect(restartRefusal(sampleJob(6, { state: 'DONE', statusCode: 13, restartedAs: 9, restartClaimedAt: ago(RESTART_CLAIM_MS * 10) }), NOW)).toBe('job 6 was restarted already, as job 9: restart that one');
  });
});
