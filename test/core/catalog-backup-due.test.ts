import { describe, expect, it } from 'vitest';
import { dueCatalogBackup } from '#core/schedule/catalog-backup-due.ts';
import type { Policy } from '#core/model/policy.ts';
import { CatalogBackupJob } from '#core/model/job.ts';
import { samplePolicy, sampleImage } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const now = new Date('2026-12-03T10:00:00Z');
const withCatalogBackup = (name: string, overrides: Partial<Policy> = {}): Policy =>
  samplePolicy(name, { catalogBackup: { frequency: 86_400, windows: [{ days: [...everyDay], start: '08:00', duration: 4 * 3600 }], storageUnit: 'offsite' }, ...overrides });

describe('when a catalog backup is due', () => {
  it('is due once a window is open and there is none yet, to the schedule\'s unit, for one policy only', () => {
    const decision = dueCatalogBackup({ policies: [withCatalogBackup('a'), withCatalogBackup('b'), samplePolicy('c')], images: [], now });
    expect(decision.due).toEqual({ policy: 'a', storageUnit: 'offsite', reason: 'the catalog has never been backed up', dueAt: new Date('2026-12-03T08:00:00Z') });
    expect(decision.notDue).toEqual([{ policy: 'b', reason: 'policy a backs the catalog up in this tick' }]);
  });

  it('is not due before the frequency ran out since the newest catalog image, and is due after', () => {
    const last = sampleImage('cairn-catalog', new Date('2026-12-02T12:00:00Z'));
    const early = dueCatalogBackup({ policies: [withCatalogBackup('a')], images: [last], now });
    expect(early.due).toBeUndefined();
    expect(early.notDue[0]!.reason).toMatch(/^the catalog was backed up at 2026-12-02T12:00:00.000Z \(cairn-catalog_\d+\); next after 2026-12-03T12:00:00.000Z \(every 1d\)$/);
    const later = dueCatalogBackup({ policies: [withCatalogBackup('a')], images: [last, sampleImage('other', new Date('2026-12-03T09:00:00Z'))], now: new Date('2026-12-03T11:59:59Z') });
    expect(later.due).toBeUndefined();
    const due = dueCatalogBackup({ policies: [withCatalogBackup('a')], images: [last], now: new Date('2026-12-04T09:00:00Z') });
    expect(due.due?.reason).toBe(`the last catalog backup ${last.backupId} is 1d or more old`);
    expect(due.due?.dueAt).toEqual(new Date('2026-12-04T08:00:00Z'));
  });

  it('with the jobs (the cloud\'s): held back while an execution\'s catalog backup runs, and due again under a new instant after one failed', () => {
    const policies = [withCatalogBackup('a')];
    const job = (state: 'ACTIVE' | 'DONE', extra: Record<string, unknown> = {}): CatalogBackupJob =>
      CatalogBackupJob.parse({ jobId: 5, type: 'catalog-backup', client: 'cairn-catalog', storageUnit: 'offsite', policy: 'a', state, executionName: 'a.cairn-catalog.catalog-backup.1', queuedAt: '2026-12-03T08:00:10.000Z', updatedAt: '2026-12-03T08:00:10.000Z', ...extra });
    expect(dueCatalogBackup({ policies, images: [], jobs: [job('ACTIVE')], now }).notDue).toEqual([{ policy: 'a', reason: 'catalog backup job 5 is ACTIVE' }]);
    // A killed CLI run (no execution) never holds the schedule back.
    expect(dueCatalogBackup({ policies, images: [], jobs: [job('ACTIVE', { executionName: undefined })], now }).due?.dueAt).toEqual(new Date('2026-12-03T08:00:00Z'));
    const failed = job('DONE', { statusCode: 219, endedAt: '2026-12-03T08:01:00.000Z' });
    expect(dueCatalogBackup({ policies, images: [], jobs: [failed], now }).due?.dueAt).toEqual(new Date('2026-12-03T08:01:00Z'));
    // A failure of another policy's, or one before the instant, does not move it.
    expect(dueCatalogBackup({ policies, images: [], jobs: [{ ...failed, policy: 'b' }, { ...failed, endedAt: '2026-12-03T07:00:00.000Z' }], now }).due?.dueAt).toEqual(new Date('2026-12-03T08:00:00Z'));
  });

  it('is not due outside its windows, for an inactive policy, or with the scheduler suspended; the policy\'s unit by default', () => {
    expect(dueCatalogBackup({ policies: [withCatalogBackup('a')], images: [], now: new Date('2026-12-03T13:00:00Z') }).notDue).toEqual([{ policy: 'a', reason: 'no catalog backup window is open' }]);
    expect(dueCatalogBackup({ policies: [withCatalogBackup('a', { active: false })], images: [], now }).notDue).toEqual([{ policy: 'a', reason: 'the policy is inactive' }]);
    expect(dueCatalogBackup({ policies: [withCatalogBackup('a')], images: [], now, suspended: true }).notDue).toEqual([{ policy: 'a', reason: 'the scheduler is suspended' }]);
    const byPolicy = samplePolicy('p', { catalogBackup: { frequency: 3600, windows: [{ days: [...everyDay], start: '00:00', duration: 86_400 }] } });
    expect(dueCatalogBackup({ policies: [byPolicy], images: [], now }).due?.storageUnit).toBe('disk1');
  });
});
