import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import type { ScheduledCatalogBackup } from '#local/scheduled-catalog-backup.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const root = '/tmp/i12-catalog-dr';
/** A backup schedule the tick never starts (no frequency, no calendar): only the catalog backup is due. */
const manualOnly = [{ name: 'full', type: 'full' as const, windows: [], retention: { days: 28 } }];

/** A policy's `catalogBackup` schedule, run by the standalone scheduler tick. */
describe('scheduled catalog backups', () => {
  const work = join(root, `tick-${process.pid}`);
  let rt: LocalRuntime;
  // Backup ids come from the clock: it must be near real time.
  const clock = new FakeClock(new Date());
  beforeEach(async () => {
    mkdirSync(join(work, 'stu'), { recursive: true });
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    await rt.config.putStorageUnit(StorageUnit.parse({ name: 'offsite', kind: 'disk', path: join(work, 'stu') }));
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('backs the catalog up when due, once per frequency, each with its DR file', async () => {
    await rt.config.putPolicy(
      samplePolicy('daily', {
        storageUnit: 'local-disk',
        schedules: manualOnly,
        catalogBackup: { frequency: 86_400, windows: [{ days: [...everyDay], start: '00:00', duration: 86_400 }], storageUnit: 'offsite' },
      }),
    );
    const runs: (ScheduledCatalogBackup | { error: string })[] = [];
    const scheduler = localScheduler(rt, { onCatalogBackup: (run) => runs.push(run) });
    await scheduler.tick();
    expect(runs).toHaveLength(1);
    const first = runs[0] as ScheduledCatalogBackup;
    expect(first).toMatchObject({ policy: 'daily', reason: 'the catalog has never been backed up' });
    expect(existsSync(first.outcome.drFile)).toBe(true);
    expect(first.outcome.image.copies[0]!.storageUnit).toBe('offsite');
    // A catalog-backup job, owned by this process: `cairn jobs` and the report show it.
    expect(await rt.jobs.get(first.jobId)).toMatchObject({ type: 'catalog-backup', state: 'DONE', statusCode: 0, policy: 'daily', storageUnit: 'offsite', image: first.outcome.image.backupId, drFile: first.outcome.drFile, owner: rt.owner });
    expect(first.outcome.image.jobId).toBe(first.jobId);

    clock.advance(3600_000);
    await scheduler.tick();
    expect(runs).toHaveLength(1);

    clock.advance(86_400_000);
    await scheduler.tick();
    expect(runs).toHaveLength(2);
    await scheduler.settled();
    expect((await rt.catalog.listImages({ client: 'cairn-catalog' })).length).toBe(2);
  }, 60_000);

  it('reports a catalog backup that cannot be written and tries again at the next tick', async () => {
    await rt.config.putPolicy(samplePolicy('daily', { storageUnit: 'local-disk', schedules: manualOnly, catalogBackup: { frequency: 86_400, windows: [{ days: [...everyDay], start: '00:00', duration: 86_400 }], storageUnit: 'nowhere' } }));
    const runs: (ScheduledCatalogBackup | { error: string })[] = [];
    const scheduler = localScheduler(rt, { onCatalogBackup: (run) => runs.push(run) });
    await scheduler.tick();
    clock.advance(60_000);
    await scheduler.tick();
    expect(runs).toEqual([{ error: 'the catalog backup failed: storage unit nowhere does not exist' }, { error: 'the catalog backup failed: storage unit nowhere does not exist' }]);
    const jobs = await rt.jobs.list();
    expect(jobs.map((j) => [j.type, j.state, j.statusCode, j.error])).toEqual([
      ['catalog-backup', 'DONE', 20, 'storage unit nowhere does not exist'],
      ['catalog-backup', 'DONE', 20, 'storage unit nowhere does not exist'],
    ]);
    await scheduler.settled();
  });
});
