import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { duplicateAsJob } from '#local/duplicate-job.ts';
import { catalogBackupAsJob } from '#local/catalog-backup-job.ts';
import { writeCatalogImage } from '#agent/catalog/catalog-image.ts';
import { drFileSaver } from '#local/catalog-backup.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { localCatalogCheckDeps } from '#cli/catalog-check-deps.ts';
import { cancelJob } from '#core/jobs/job-service.ts';
import { runAsJob, type LifecycleJobDeps } from '#core/jobs/lifecycle-job.ts';
import { cleanupFields, cleanupOutcome, catalogCheckFields, catalogCheckOutcome } from '#core/jobs/lifecycle-outcomes.ts';
import { runExpiration } from '#core/catalog/expire-images.ts';
import { runCatalogCheck } from '#core/catalog/catalog-check.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { StatusCode } from '#core/status-codes.ts';
import { CairnError } from '#core/errors.ts';
import { systemTimer } from '#lambdas/system-clock.ts';

/** Looked at this often here, so a test waits a fraction of a second for its cancel to be seen. */
const WATCH_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A lifecycle job (duplicate, image cleanup, catalog backup, catalog
 * check) cancelled while it runs stops at its next safe point: its watch
 * (core/jobs/lifecycle-job.ts, the job-record reporter's refused write)
 * aborts the operation, nothing half-made is catalogued, and the job keeps
 * the cancel's 150 and reason. The cancel is made as `cairn jobs cancel`
 * makes it (cancelJob on the same SQLite file) at a point of the run the
 * test chooses, through a storage unit opener that waits there; then the
 * test sleeps ten watch intervals, so the watch has seen it.
 */
describe('a lifecycle job cancelled while it runs', () => {
  let work: string;
  let runtime: LocalRuntime;
  let jobDeps: LifecycleJobDeps;

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-lifecycle-cancel-'));
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    jobDeps = { jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner, timer: systemTimer, watchEveryMs: WATCH_MS };
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1'), fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk2', kind: 'disk', path: join(work, 'disk2') }));
  });
  afterEach(() => {
    runtime.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** An image of `files` files of 1 MiB each on disk1: a fragment each. */
  async function backup(client: string, files: number): Promise<string> {
    const source = join(work, `source-${client}`);
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(1024 * 1024));
    const run = await runBackupJob(runtime, { client, selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    return run.backupId!;
  }

  /** The newest job of a kind (the one the test runs). */
  async function lastJob(type: string) {
    return (await runtime.jobs.list({ limit: 100 })).find((j) => j.type === type)!;
  }

  /** Cancels the running job of `type` as `cairn jobs cancel` does, then gives its watch ten intervals to see it. */
  async function cancelRunning(type: string): Promise<void> {
    const job = await lastJob(type);
    expect(job.state).toBe('ACTIVE');
    await cancelJob(runtime, job.jobId, runtime.clock.now(), 'tester@host1, cairn jobs cancel');
    await sleep(WATCH_MS * 10);
  }

  /** An opener whose stores call `at` before their `nth` put (counted across stores). */
  function cancellingOpener(nth: number, at: () => Promise<void>): StorageUnitOpener {
    let puts = 0;
    return async (unit) => {
      const store = await openStorageUnit(unit);
      return new Proxy(store, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown;
          if (prop !== 'put') return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          return async (...args: Parameters<ObjectStore['put']>) => {
            if (++puts === nth) await at();
            return target.put(...args);
          };
        },
      });
    };
  }

  it('a duplicate stops within the object in hand, catalogues nothing, and the next duplicate makes the copy', async () => {
    const backupId = await backup('host1', 12);
    const opener = cancellingOpener(4, () => cancelRunning('duplicate'));
    const started = Date.now();
    const stopped = await duplicateAsJob({ catalog: runtime.catalog, config: runtime.config, openStorageUnit: opener, ...jobDeps }, { backupId, to: 'disk2' }).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(10_000);

    expect(stopped).toBeInstanceOf(CairnError);
    expect((stopped as CairnError).statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect((stopped as CairnError).message).toMatch(/^job \d+ \(duplicate\) was ended while it ran \(status 150: cancelled by an administrator \(tester@host1, cairn jobs cancel\)\): it stopped before it finished$/);
    const job = await lastJob('duplicate');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150, error: 'cancelled by an administrator (tester@host1, cairn jobs cancel)' });
    expect(job.details ?? []).toEqual([]);
    expect((await runtime.catalog.getImage(backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);
    // Three of the image's fourteen objects (12 fragments, index, manifest) were copied; the fourth, in hand when the
    // cancel was seen, stopped within its stream, and its partial write is gone; no manifest.
    const copied = readdirSync(join(work, 'disk2', 'images', 'host1', backupId));
    expect(copied.length).toBe(3);
    expect(copied).not.toContain('manifest.json');

    const again = await duplicateAsJob({ catalog: runtime.catalog, config: runtime.config, openStorageUnit, ...jobDeps }, { backupId, to: 'disk2' });
    expect(again).toMatchObject({ statusCode: 0, result: { copyNumber: 2, storageUnit: 'disk2' } });
    expect((await runtime.catalog.getImage(backupId))!.copies.map((c) => c.copyNumber)).toEqual([1, 2]);
  }, 60_000);

  it('an image cleanup stops between two images: those expired stay expired, the rest wait for the next run', async () => {
    const ids = [await backup('host1', 1), await backup('host2', 1), await backup('host3', 1)];
    for (const id of ids) await runtime.catalog.updateImage(id, (i) => ({ ...i, expiresAt: '2020-01-01T00:00:00.000Z' }));
    const deps = { catalog: runtime.catalog, config: runtime.config, jobs: runtime.jobs, media: runtime.media, emm: runtime.emm };
    let opened = 0;
    const opener: StorageUnitOpener = async (unit) => {
      // The first image's storage is opened: the cancel comes while it is being expired.
      if (++opened === 1) await cancelRunning('image-cleanup');
      return openStorageUnit(unit);
    };
    const stopped = runAsJob(jobDeps, 'image-cleanup', cleanupFields('command'), (job) => runExpiration({ ...deps, openStorageUnit: opener }, runtime.clock.now(), { signal: job.signal }), cleanupOutcome);
    await expect(stopped).rejects.toMatchObject({ statusCode: 150 });
    expect(await lastJob('image-cleanup')).toMatchObject({ state: 'DONE', statusCode: 150, error: 'cancelled by an administrator (tester@host1, cairn jobs cancel)' });
    const left = (await runtime.catalog.listImages()).map((i) => i.backupId);
    expect(left.length).toBe(2);

    const rest = await runAsJob(jobDeps, 'image-cleanup', cleanupFields('command'), (job) => runExpiration({ ...deps, openStorageUnit }, runtime.clock.now(), { signal: job.signal }), cleanupOutcome);
    expect(rest.statusCode).toBe(0);
    expect(rest.result.expired.map((e) => e.backupId).sort()).toEqual([...left].sort());
    expect(await runtime.catalog.listImages()).toEqual([]);
  }, 60_000);

  it('a catalog backup cancelled while the catalog is copied claims no image and writes no DR file', async () => {
    const drDir = join(work, 'dr');
    const unit = (await runtime.config.getStorageUnit('disk2'))!;
    const stopped = catalogBackupAsJob(jobDeps, { storageUnit: 'disk2' }, (claimFor, signal) =>
      writeCatalogImage({ catalog: runtime.catalog, jobs: runtime.jobs, now: () => runtime.clock.now(), openStore: openStorageUnit, claimFor, signal }, unit, {
        runtime: 'standalone',
        workDir: join(work, 'catalog-work'),
        saveDr: drFileSaver(drDir),
        fileName: 'cairn.db',
        produce: async (file: string) => {
          await runtime.db.backup(file);
          await cancelRunning('catalog-backup');
        },
      }),
    );
    await expect(stopped).rejects.toMatchObject({ statusCode: 150 });
    expect(await lastJob('catalog-backup')).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(await runtime.catalog.listClaims()).toEqual([]);
    expect(await runtime.catalog.listImages()).toEqual([]);
    expect(existsSync(drDir)).toBe(false);
    expect(existsSync(join(work, 'disk2', 'images'))).toBe(false);
    // The catalog copy it made is removed as on any other end.
    expect(readdirSync(join(work, 'catalog-work'))).toEqual([]);
  }, 60_000);

  it('a catalog check stops between two copies it looks at', async () => {
    await backup('host1', 1);
    await backup('host2', 1);
    const deps = localCatalogCheckDeps(runtime);
    let looked = 0;
    const checkCopy: typeof deps.checkCopy = async (...args) => {
      looked += 1;
      if (looked === 1) await cancelRunning('catalog-check');
      return deps.checkCopy(...args);
    };
    const stopped = runAsJob(jobDeps, 'catalog-check', catalogCheckFields(false), (job) => runCatalogCheck({ ...deps, checkCopy }, runtime.clock.now(), { repair: false, signal: job.signal }), catalogCheckOutcome);
    await expect(stopped).rejects.toMatchObject({ statusCode: 150 });
    expect(looked).toBe(1);
    expect(await lastJob('catalog-check')).toMatchObject({ state: 'DONE', statusCode: 150 });
  }, 60_000);

  it('an operation that finished as the cancel came keeps the 150 and says what it did', async () => {
    const run = await runAsJob(jobDeps, 'duplicate', { client: 'host1', image: 'host1_1796000000', storageUnit: 'disk2' }, async (job) => {
      await cancelJob(runtime, job.jobId, runtime.clock.now());
      return 2;
    }, (copyNumber) => ({ statusCode: 0, fields: { copyNumber, fromCopy: 1 } }));
    expect(run.statusCode).toBe(150);
    const job = await lastJob('duplicate');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150, error: 'cancelled by an administrator' });
    expect(job.details!.map((d) => d.message)).toEqual(['the duplicate had finished (status 0; copyNumber 2, fromCopy 1) when it learned the job was ended']);
  });
});
