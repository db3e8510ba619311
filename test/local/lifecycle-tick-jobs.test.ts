import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { claimAndCommit, sampleImage, samplePolicy } from '../contracts/fixtures.ts';
import { runCairn } from '../cli/cli-process.ts';
import { localCatalogCheckDeps } from '#cli/catalog-check-deps.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const manualOnly = [{ name: 'full', type: 'full' as const, windows: [], retention: { days: 28 } }];

/** The standalone tick's cleanup and catalog backup are jobs `cairn report` lists; a cleanup that finds nothing is none. */
describe('the standalone tick records its lifecycle jobs', () => {
  const work = join('/tmp', `cairn-lifecycle-tick-${process.pid}`);
  let rt: LocalRuntime;
  // The report's period is the last 24 hours of real time: the tick's clock is near it.
  const clock = new FakeClock(new Date());
  beforeEach(async () => {
    mkdirSync(join(work, 'stu'), { recursive: true });
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    await rt.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'stu') }));
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('one image-cleanup job for a tick that expired something, none for a tick that found nothing; the catalog backup job beside it; cairn report --json lists both', async () => {
    const old = sampleImage('ahost', new Date(clock.now().getTime() - 30 * 86_400_000));
    await claimAndCommit(rt.catalog, old);
    await rt.config.putPolicy(samplePolicy('daily', { storageUnit: 'disk1', schedules: manualOnly, catalogBackup: { frequency: 86_400, windows: [{ days: [...everyDay], start: '00:00', duration: 86_400 }], storageUnit: 'disk1' } }));
    const scheduler = localScheduler(rt);

    const first = await scheduler.tick();
    expect(first.expiration.expired.map((e) => e.backupId)).toEqual([old.backupId]);
    clock.advance(60_000);
    await scheduler.tick();
    await scheduler.settled();

    const jobs = await rt.jobs.list();
    expect(jobs.map((j) => j.type).sort()).toEqual(['catalog-backup', 'image-cleanup']);
    const cleanup = jobs.find((j) => j.type === 'image-cleanup')!;
    expect(cleanup).toMatchObject({ state: 'DONE', statusCode: 0, trigger: 'tick', expired: [old.backupId], expiredCount: 1, owner: rt.owner });
    expect(Date.parse(cleanup.startedAt!)).toBeLessThanOrEqual(Date.parse(cleanup.endedAt!));
    rt.close();

    const report = await runCairn(join(work, 'home'), ['report', '--json']);
    expect(report.code, report.stderr).toBe(0);
    const lines = (JSON.parse(report.stdout) as JobReport).jobs.map((l) => [l.kind, l.outcome, l.statusCode, l.client]);
    expect(lines.sort()).toEqual([
      ['catalog-backup', 'success', 0, 'cairn-catalog'],
      ['image-cleanup', 'success', 0, 'cairn-catalog'],
    ]);
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
  }, 60_000);

  it('runs a policy\'s catalogCheck as a catalog-check job when due, and not again until its frequency has passed', async () => {
    await rt.config.putPolicy(samplePolicy('daily', { storageUnit: 'disk1', schedules: manualOnly, catalogCheck: { frequency: 86_400, windows: [{ days: [...everyDay], start: '00:00', duration: 86_400 }], grace: 3600 } }));
    const runs: unknown[] = [];
    const scheduler = localScheduler(rt, { catalogCheck: () => localCatalogCheckDeps(rt), onCatalogCheck: (run) => runs.push(run) });

    await scheduler.tick();
    clock.advance(3600_000);
    await scheduler.tick();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ policy: 'daily', reason: 'the catalog has never been checked on this schedule', statusCode: 0 });
    clock.advance(86_400_000);
    await scheduler.tick();
    await scheduler.settled();

    const checks = (await rt.jobs.list()).filter((j) => j.type === 'catalog-check');
    expect(checks.map((j) => [j.state, j.statusCode, j.type === 'catalog-check' ? [j.policy, j.repair] : undefined])).toEqual([
      ['DONE', 0, ['daily', false]],
      ['DONE', 0, ['daily', false]],
    ]);
    // Without the check's ports (a tick that was given none), nothing runs.
    clock.advance(2 * 86_400_000);
    await localScheduler(rt).tick();
    expect((await rt.jobs.list()).filter((j) => j.type === 'catalog-check')).toHaveLength(2);
  }, 60_000);
});
