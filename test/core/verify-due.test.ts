import { describe, expect, it } from 'vitest';
import { Policy } from '#core/model/policy.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { dueVerifies, scheduledVerifyRequest } from '#core/schedule/verify-due.ts';
import { VerifyRequest } from '#core/jobs/verify-job.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';

/** A policy that verifies its clients' latest images daily, in a 02:00–06:00 UTC window. */
const policy = Policy.parse({ ...samplePolicy('daily-home'), verify: { frequency: '1d', windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '02:00', duration: 4 * 3600 }] } });
const at = (iso: string): Date => new Date(iso);

function verifyJob(jobId: number, image: string, queuedAt: string, overrides: Partial<VerifyJob> = {}): VerifyJob {
  return { jobId, type: 'verify', state: 'DONE', statusCode: 0, attempt: 1, client: 'client1', image, storageUnit: 'disk1', policy: 'daily-home', schedule: 'verify', problems: [], problemCount: 0, attempts: [], progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, queuedAt, updatedAt: queuedAt, ...overrides };
}

describe('scheduled verify: the due decision', () => {
  const older = sampleImage('client1', at('2026-11-01T22:00:00Z'), { policy: 'daily-home' });
  const latest = sampleImage('client1', at('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
  const images = [older, latest];

  it('picks the latest image of each client inside the window, with a stable execution name, and a request the verify job accepts', () => {
    const input = { policies: [policy], images, jobs: [], now: at('2026-11-03T03:00:00Z') };
    const { due, notDue } = dueVerifies(input);
    expect(due.map((d) => [d.client, d.backupId, d.dueSince])).toEqual([['client1', latest.backupId, '2026-11-03T02:00:00.000Z']]);
    expect(notDue).toEqual([{ policy: 'daily-home', client: 'client2', schedule: 'verify', reason: 'client client2 has no image of policy daily-home to verify' }]);
    // A second tick an hour later starts the same execution: the starter answers already-started.
    expect(dueVerifies({ ...input, now: at('2026-11-03T04:00:00Z') }).due[0]!.executionName).toBe(due[0]!.executionName);
    expect(VerifyRequest.parse(scheduledVerifyRequest(due[0]!))).toMatchObject({ backupId: latest.backupId, policy: 'daily-home', schedule: 'verify' });
  });

  it('is not due outside its window, while a verify of the client runs, or within the frequency of the last verify of the same image', () => {
    expect(dueVerifies({ policies: [policy], images, jobs: [], now: at('2026-11-03T12:00:00Z') }).notDue[0]!.reason).toBe('no verify window is open');
    const running = verifyJob(5, older.backupId, '2026-11-03T02:10:00Z', { state: 'ACTIVE', statusCode: undefined });
    expect(dueVerifies({ policies: [policy], images, jobs: [running], now: at('2026-11-03T03:00:00Z') }).notDue[0]!.reason).toBe(`verify job 5 of ${older.backupId} is still ACTIVE`);
    const done = verifyJob(6, latest.backupId, '2026-11-03T02:10:00Z');
    const { due, notDue } = dueVerifies({ policies: [policy], images, jobs: [done], now: at('2026-11-03T05:00:00Z') });
    expect(due).toEqual([]);
    expect(notDue[0]!.reason).toBe(`image ${latest.backupId} was verified at 2026-11-03T02:10:00Z (status 0); next after 2026-11-04T02:10:00.000Z (every 1d)`);
  });

  it('is due again a frequency after the last verify, and at once for a newer image', () => {
    const done = verifyJob(6, latest.backupId, '2026-11-03T02:10:00Z');
    const again = dueVerifies({ policies: [policy], images, jobs: [done], now: at('2026-11-04T02:30:00Z') }).due;
    expect(again.map((d) => [d.backupId, d.dueSince])).toEqual([[latest.backupId, '2026-11-04T02:10:00.000Z']]);
    const newer = sampleImage('client1', at('2026-11-03T22:00:00Z'), { policy: 'daily-home' });
    const fresh = dueVerifies({ policies: [policy], images: [...images, newer], jobs: [done], now: at('2026-11-04T02:05:00Z') }).due;
    expect(fresh.map((d) => d.backupId)).toEqual([newer.backupId]);
  });

  it('schedules nothing for a policy without verify, an inactive policy, or a suspended scheduler', () => {
    const now = at('2026-11-03T03:00:00Z');
    expect(dueVerifies({ policies: [samplePolicy('daily-home')], images, jobs: [], now })).toEqual({ due: [], notDue: [] });
    expect(dueVerifies({ policies: [{ ...policy, active: false }], images, jobs: [], now }).notDue.map((n) => n.reason)).toEqual(['the policy is inactive', 'the policy is inactive']);
    expect(dueVerifies({ policies: [policy], images, jobs: [], now, suspended: true }).due).toEqual([]);
  });

  it('refuses a verify schedule without a window', () => {
    expect(() => Policy.parse({ ...samplePolicy('p'), verify: { frequency: '1d', windows: [] } })).toThrow(/at least one start window/);
  });
});
