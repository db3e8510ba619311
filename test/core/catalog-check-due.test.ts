import { describe, expect, it } from 'vitest';
import { dueCatalogCheck } from '#core/schedule/catalog-check-due.ts';
import { CatalogCheckJob, type Job } from '#core/model/job.ts';
import { Policy } from '#core/model/policy.ts';
import { ValidationError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const NOW = new Date('2026-06-10T03:00:00Z');
const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const nightly = { frequency: 86_400, windows: [{ days: [...everyDay], start: '02:00', duration: 4 * 3600 }] };
const checkJob = (jobId: number, startedAt: string, extra: Record<string, unknown> = {}): Job =>
  CatalogCheckJob.parse({ jobId, type: 'catalog-check', client: 'cairn-catalog', repair: false, policy: 'p1', state: 'DONE', statusCode: 0, queuedAt: startedAt, startedAt, updatedAt: startedAt, ...extra });

describe('when a scheduled catalog check is due', () => {
  it('is due in an open window when the policy never checked, with its repair and grace (default 24h)', () => {
    const policies = [samplePolicy('p1', { catalogCheck: { ...nightly, repair: true } }), samplePolicy('p2', { catalogCheck: { ...nightly, grace: 3600 } })];
    expect(dueCatalogCheck({ policies, jobs: [], now: NOW })).toEqual({
      due: { policy: 'p1', repair: true, graceSeconds: 86_400, reason: 'the catalog has never been checked on this schedule', dueAt: new Date('2026-06-10T02:00:00Z') },
      notDue: [{ policy: 'p2', reason: 'policy p1 checks the catalog in this tick' }],
    });
  });

  it('is not due within its frequency of its last check, and due again after it; a check of another policy or a manual one does not count', () => {
    const policies = [samplePolicy('p1', { catalogCheck: nightly })];
    const recent = checkJob(7, '2026-06-09T23:00:00.000Z');
    expect(dueCatalogCheck({ policies, jobs: [recent, checkJob(9, '2026-06-10T02:30:00.000Z', { policy: undefined }), checkJob(8, '2026-06-10T02:00:00.000Z', { policy: 'other' })], now: NOW })).toEqual({
      notDue: [{ policy: 'p1', reason: 'its last catalog check, job 7, started at 2026-06-09T23:00:00.000Z; next after 2026-06-10T23:00:00.000Z (every 1d)' }],
    });
    const again = dueCatalogCheck({ policies, jobs: [checkJob(7, '2026-06-09T02:10:00.000Z')], now: NOW }).due;
    expect(again?.reason).toBe('its last catalog check, job 7, is 1d or more old');
    // The due instant (the cloud's execution name) is the last check plus the frequency, not the window's opening: ticks agree on it.
    expect(again?.dueAt).toEqual(new Date('2026-06-10T02:10:00Z'));
  });

  it('is not due outside its windows, while suspended, for an inactive policy, or while any catalog check runs', () => {
    const policy = samplePolicy('p1', { catalogCheck: nightly });
    expect(dueCatalogCheck({ policies: [policy], jobs: [], now: new Date('2026-06-10T12:00:00Z') }).notDue).toEqual([{ policy: 'p1', reason: 'no catalog check window is open' }]);
    expect(dueCatalogCheck({ policies: [policy], jobs: [], suspended: true, now: NOW }).notDue).toEqual([{ policy: 'p1', reason: 'the scheduler is suspended' }]);
    expect(dueCatalogCheck({ policies: [{ ...policy, active: false }], jobs: [], now: NOW }).notDue).toEqual([{ policy: 'p1', reason: 'the policy is inactive' }]);
    expect(dueCatalogCheck({ policies: [policy], jobs: [checkJob(3, '2026-06-01T02:00:00.000Z', { state: 'ACTIVE', statusCode: undefined, policy: undefined })], now: NOW }).notDue).toEqual([{ policy: 'p1', reason: 'catalog check job 3 is ACTIVE' }]);
    expect(dueCatalogCheck({ policies: [samplePolicy('p0')], jobs: [], now: NOW })).toEqual({ notDue: [] });
  });

  it('refuses a catalogCheck that could never run or says something unclear, naming the field', () => {
    const refusal = (catalogCheck: unknown): string[] => {
      try {
        parseOrThrow(Policy, { ...samplePolicy('p1'), catalogCheck }, 'policy p1');
        return [];
      } catch (error) {
        return [...(error as ValidationError).details];
      }
    };
    expect(refusal({ frequency: '1d', windows: [] })).toEqual(['catalogCheck.windows: a scheduled catalog check needs at least one start window (none: it would never start)']);
    expect(refusal({ ...nightly, frequency: '-1d' })).toEqual(['catalogCheck.frequency: -1d: a duration must be positive']);
    expect(refusal({ ...nightly, repair: 'yes' })).toEqual(['catalogCheck.repair: repair is true or false']);
    expect(refusal({ ...nightly, grace: '1.5h' })).toEqual(['catalogCheck.grace: 1.5h: each unit takes a whole number (1h30m, not 1.5h)']);
    expect(refusal({ ...nightly, storageUnit: 'x' })[0]).toMatch(/^catalogCheck: .*storageUnit/);
    expect(refusal({ ...nightly, repair: true, grace: '2h' })).toEqual([]);
  });
});
