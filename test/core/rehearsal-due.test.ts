import { describe, expect, it } from 'vitest';
import { Policy } from '#core/model/policy.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { dueRehearsals, scheduledRehearsalRequest } from '#core/schedule/rehearsal-due.ts';
import { dueVerifies } from '#core/schedule/verify-due.ts';
import { VerifyRequest } from '#core/jobs/verify-job.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';

const window = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '02:00', duration: 4 * 3600 }];
/** A policy that rehearses its clients' latest images weekly, 10 files, in a 02:00–06:00 UTC window. */
const policy = Policy.parse({ ...samplePolicy('daily-home'), rehearsal: { frequency: '1w', windows: window, sample: 10 } });
const at = (iso: string): Date => new Date(iso);

function rehearsalJob(jobId: number, image: string, queuedAt: string, overrides: Partial<VerifyJob> = {}): VerifyJob {
  return { jobId, type: 'verify', state: 'DONE', statusCode: 0, attempt: 1, client: 'client1', image, storageUnit: 'disk1', policy: 'daily-home', schedule: 'rehearsal', problems: [], problemCount: 0, attempts: [], progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, rehearsal: { sample: 10, images: [image] }, queuedAt, updatedAt: queuedAt, ...overrides };
}

describe('scheduled restore rehearsal: the due decision', () => {
  const older = sampleImage('client1', at('2026-11-01T22:00:00Z'), { policy: 'daily-home' });
  const latest = sampleImage('client1', at('2026-11-02T22:00:00Z'), { policy: 'daily-home' });
  const images = [older, latest];

  it('picks the latest usable image of each client inside the window, with a stable execution name and a request the verify job accepts', () => {
    const input = { policies: [policy], images, jobs: [], now: at('2026-11-03T03:00:00Z') };
    const { due, notDue } = dueRehearsals(input);
    expect(due.map((d) => [d.kind, d.client, d.backupId, d.dueSince, d.reason])).toEqual([['rehearsal', 'client1', latest.backupId, '2026-11-03T02:00:00.000Z', `image ${latest.backupId} has not been rehearsed (10 files)`]]);
    expect(notDue).toEqual([{ policy: 'daily-home', client: 'client2', schedule: 'rehearsal', reason: 'client client2 has no usable image of policy daily-home to rehearse a restore of' }]);
    expect(dueRehearsals({ ...input, now: at('2026-11-03T04:00:00Z') }).due[0]!.executionName).toBe(due[0]!.executionName);
    expect(due[0]!.executionName).toContain('.rehearsal-');
    expect(VerifyRequest.parse(scheduledRehearsalRequest(due[0]!))).toMatchObject({ backupId: latest.backupId, policy: 'daily-home', schedule: 'rehearsal', rehearsal: {} });
  });

  it('passes over a newer image that is broken, failed or being expired', () => {
    const broken = sampleImage('client1', at('2026-11-02T23:00:00Z'), { policy: 'daily-home' });
    const failed = sampleImage('client1', at('2026-11-02T23:30:00Z'), { policy: 'daily-home', statusCode: 50 });
    const expiring = sampleImage('client1', at('2026-11-02T23:45:00Z'), { policy: 'daily-home', state: 'EXPIRED' });
    const withBroken = { ...broken, broken: { copies: broken.copies.map((c) => c.copyNumber), reasons: ['fragment missing'], at: '2026-11-03T00:00:00Z' } };
    const { due } = dueRehearsals({ policies: [policy], images: [...images, withBroken as never, failed, expiring], jobs: [], now: at('2026-11-03T03:00:00Z') });
    expect(due.map((d) => d.backupId)).toEqual([latest.backupId]);
  });

  it('is not due outside its window, while a rehearsal of the client runs, or within the frequency of the last rehearsal of the same image', () => {
    expect(dueRehearsals({ policies: [policy], images, jobs: [], now: at('2026-11-03T12:00:00Z') }).notDue[0]!.reason).toBe('no rehearsal window is open');
    const running = rehearsalJob(5, older.backupId, '2026-11-03T02:10:00Z', { state: 'ACTIVE', statusCode: undefined });
    expect(dueRehearsals({ policies: [policy], images, jobs: [running], now: at('2026-11-03T03:00:00Z') }).notDue[0]!.reason).toBe(`rehearsal job 5 of ${older.backupId} is still ACTIVE`);
    const done = rehearsalJob(6, latest.backupId, '2026-11-03T02:10:00Z');
    const { due, notDue } = dueRehearsals({ policies: [policy], images, jobs: [done], now: at('2026-11-05T03:00:00Z') });
    expect(due).toEqual([]);
    expect(notDue[0]!.reason).toBe(`image ${latest.backupId} was rehearsed at 2026-11-03T02:10:00Z (status 0); next after 2026-11-10T02:10:00.000Z (every 1w)`);
    expect(dueRehearsals({ policies: [policy], images, jobs: [done], now: at('2026-11-10T02:30:00Z') }).due[0]!.reason).toBe(`image ${latest.backupId} was last rehearsed at 2026-11-03T02:10:00Z, 1w or more ago (10 files)`);
  });

  it('a rehearsal is not a verify, and a verify is not a rehearsal', () => {
    const both = Policy.parse({ ...policy, verify: { frequency: '1d', windows: window } });
    const rehearsed = rehearsalJob(6, latest.backupId, '2026-11-03T02:10:00Z');
    const now = at('2026-11-03T03:00:00Z');
    expect(dueVerifies({ policies: [both], images, jobs: [rehearsed], now }).due.map((d) => d.backupId)).toEqual([latest.backupId]);
    const verified = { ...rehearsed, rehearsal: undefined, schedule: 'verify' };
    expect(dueRehearsals({ policies: [both], images, jobs: [verified], now }).due.map((d) => d.backupId)).toEqual([latest.backupId]);
  });

  it('schedules nothing for a policy without rehearsal, an inactive policy, or a suspended scheduler', () => {
    const now = at('2026-11-03T03:00:00Z');
    expect(dueRehearsals({ policies: [samplePolicy('daily-home')], images, jobs: [], now })).toEqual({ due: [], notDue: [] });
    expect(dueRehearsals({ policies: [{ ...policy, active: false }], images, jobs: [], now }).notDue.map((n) => n.reason)).toEqual(['the policy is inactive', 'the policy is inactive']);
    expect(dueRehearsals({ policies: [policy], images, jobs: [], now, suspended: true }).notDue.map((n) => n.reason)).toEqual(['the scheduler is suspended', 'the scheduler is suspended']);
  });
});

describe('policy rehearsal schedule: validation', () => {
  const parse = (rehearsal: unknown) => Policy.safeParse({ ...samplePolicy('p'), rehearsal });
  const messages = (rehearsal: unknown): string[] => {
    const result = parse(rehearsal);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults the sample to 20 and accepts all and an absolute scratch directory', () => {
    expect(Policy.parse({ ...samplePolicy('p'), rehearsal: { frequency: '1w', windows: window } }).rehearsal).toMatchObject({ frequency: 604800, sample: 20 });
    expect(parse({ frequency: '1d', windows: window, sample: 'all', scratch: '/var/tmp/cairn' }).success).toBe(true);
  });

  it('refuses a relative scratch, .. segments, /, a sample that is not a positive whole number, and no window, each with its reason', () => {
    expect(messages({ frequency: '1d', windows: window, scratch: 'tmp/x' })).toEqual(['rehearsal.scratch: an absolute directory on the client (it starts with /)']);
    expect(messages({ frequency: '1d', windows: window, scratch: '/var/../etc' })).toEqual(['rehearsal.scratch: no . or .. segments (the scratch directory must be named as it is)']);
    expect(messages({ frequency: '1d', windows: window, scratch: '//' })).toEqual(['rehearsal.scratch: not / itself: a rehearsal writes and removes its directory under the scratch directory']);
    expect(messages({ frequency: '1d', windows: window, sample: 0 }).join()).toContain('rehearsal.sample');
    expect(messages({ frequency: '1d', windows: window, sample: 2.5 }).join()).toContain('rehearsal.sample');
    expect(messages({ frequency: '1d', windows: window, sample: 'some' }).join()).toContain('a positive whole number of files, or all');
    expect(messages({ frequency: '1d', windows: [] })).toEqual(['rehearsal.windows: a scheduled rehearsal needs at least one start window (none: it would never start)']);
    expect(messages({ frequency: '1d', windows: window, extra: 1 }).join()).toContain('extra');
  });

  it('a rehearsal request names its image, or a policy and client', () => {
    expect(VerifyRequest.safeParse({ rehearsal: {} }).success).toBe(false);
    expect(VerifyRequest.safeParse({ policy: 'p', rehearsal: {} }).error?.issues[0]?.message).toBe('a rehearsal names its image (backupId), or a policy and rehearsal.client (the latest usable image)');
    expect(VerifyRequest.safeParse({ policy: 'p', rehearsal: { client: 'c', sample: 'all', scratch: '/s' } }).success).toBe(true);
    expect(VerifyRequest.safeParse({}).success).toBe(false);
  });
});
