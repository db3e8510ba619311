import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, truncateSync, unlinkSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import type { Image } from '#core/model/image.ts';
import type { CatalogCheckReport } from '#core/catalog/catalog-check.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { runCairn, type CliResult } from './cli-process.ts';

const root = '/tmp/i12-catalog-check';
const DAY_S = 86_400;

/**
 * The done-when of issue 12's catalog check, on a standalone home with real
 * backups on real files: orphans planted (a stray image folder, a stray
 * object in a good image's folder), a fragment deleted, another truncated,
 * a reservation left by an ended job and an ACTIVE job whose owner process
 * is dead. `catalog check` finds each exactly once; `--repair` fixes them,
 * a second check is clean, and nothing good is deleted: the good image
 * restores byte for byte and the damaged ones stay listed, marked broken.
 */
describe('cairn catalog check and --repair', () => {
  const work = join(root, `cli-${process.pid}`);
  const home = join(work, 'home');
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  const ids: Record<'good' | 'short' | 'gone', string> = { good: '', short: '', gone: '' };
  let disk = '';
  const source = join(work, 'source');
  const deadOwner = `local:${hostname()}:999999999`;

  beforeAll(async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    makeSampleTree(source, { largeBytes: 200_000 });
    for (const which of ['good', 'short', 'gone'] as const) {
      const backup = await cairn('backup', '--client', `${which}-host`, '--path', source, '--json');
      expect(backup.code, backup.stderr).toBe(0);
      ids[which] = (JSON.parse(backup.stdout) as { backupId: string }).backupId;
    }
    const rt = await openLocalRuntime({ home });
    try {
      const unit = await rt.config.getStorageUnit('local-disk');
      if (unit?.kind !== 'disk') throw new Error('the default unit is a disk unit');
      disk = unit.path;
      const fragment = async (id: string): Promise<string> => {
        const image = (await rt.catalog.getImage(id)) as Image;
        const f = image.copies[0]!.fragments[0]!;
        if (f.location.kind !== 'object') throw new Error('a disk image has object fragments');
        return join(disk, f.location.key);
      };
      // A deleted fragment and a truncated one.
      unlinkSync(await fragment(ids.gone));
      const short = await fragment(ids.short);
      truncateSync(short, statSync(short).size - 100);
      // Orphans, older than the grace period: a stray image folder, and a stray object in the good image's folder.
      const old = new Date(Date.now() - 2 * DAY_S * 1000);
      for (const key of ['images/ghost/ghost_1700000000/fragment-00001.tar', `images/good-host/${ids.good}/stray.bin`]) {
        mkdirSync(join(disk, key, '..'), { recursive: true });
        writeFileSync(join(disk, key), Buffer.alloc(1234, 7));
        utimesSync(join(disk, key), old, old);
      }
      // A job whose owner process is dead, still ACTIVE; an ended job still holding a storage unit slot.
      await rt.jobs.create(sampleJob(900, { state: 'ACTIVE', owner: deadOwner, client: 'dead-host', storageUnit: 'local-disk', startedAt: new Date().toISOString() }));
      await rt.jobs.create(sampleJob(901, { state: 'DONE', statusCode: 0, owner: deadOwner, client: 'done-host', storageUnit: 'local-disk', endedAt: new Date().toISOString() }));
      await rt.media.reserve({ jobId: 901, resources: [{ kind: 'storage-unit-slot', storageUnit: 'local-disk', maxConcurrentJobs: 8 }], at: new Date() });
    } finally {
      rt.close();
    }
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('finds each planted problem exactly, changes nothing, and exits 1', async () => {
    const check = await cairn('catalog', 'check', '--json');
    expect(check.code, check.stderr).toBe(1);
    const report = JSON.parse(check.stdout) as CatalogCheckReport;
    const found = report.findings.map((f) => `${f.kind} ${f.subject}`).sort();
    expect(found).toEqual(
      [
        'dead-job job 900',
        `damaged-image image ${ids.gone} copy 1 on local-disk`,
        `damaged-image image ${ids.short} copy 1 on local-disk`,
        'orphan-object local-disk:images/ghost/ghost_1700000000/fragment-00001.tar',
        `orphan-object local-disk:images/good-host/${ids.good}/stray.bin`,
        'stale-reservation job 901: a slot of storage unit local-disk',
      ].sort(),
    );
    const byKind = (kind: string, subject: string) => report.findings.find((f) => f.kind === kind && f.subject.includes(subject))!;
    expect(byKind('orphan-object', 'ghost').bytes).toBe(1234);
    expect(byKind('damaged-image', ids.gone).detail).toContain('is missing');
    expect(byKind('damaged-image', ids.short).detail).toMatch(/has \d+ bytes, the catalog says \d+/);
    expect(report.changes).toEqual([]);
    // A check changes nothing: the same findings again, the orphan still there, the job still ACTIVE.
    const again = JSON.parse((await cairn('catalog', 'check', '--json')).stdout) as CatalogCheckReport;
    expect(again.findings.length).toBe(6);
    expect(statSync(join(disk, 'images/ghost/ghost_1700000000/fragment-00001.tar')).size).toBe(1234);
    // Text output names every finding and the summary.
    const text = await cairn('catalog', 'check');
    expect(text.stdout).toContain('orphan-object local-disk:images/ghost/ghost_1700000000/fragment-00001.tar');
    expect(text.stdout).toMatch(/6 finding\(s\), 2 orphan\(s\)/);
  }, 60_000);

  it('--repair fixes each, reports every change, and a second check is clean', async () => {
    const repair = await cairn('catalog', 'check', '--repair', '--json');
    const report = JSON.parse(repair.stdout) as CatalogCheckReport;
    expect(report.unrepaired, repair.stderr).toEqual([]);
    expect(repair.code).toBe(0);
    const changes = report.changes.map((c) => `${c.subject}: ${c.change.split(' (')[0]}`).sort();
    expect(changes).toEqual(
      [
        `image ${ids.gone} copy 1 on local-disk: marked broken`,
        `image ${ids.short} copy 1 on local-disk: marked broken`,
        'job 900: ended with status 2002',
        'job 901: reservations released',
        'local-disk:images/ghost/ghost_1700000000/fragment-00001.tar: deleted',
        `local-disk:images/good-host/${ids.good}/stray.bin: deleted`,
      ].sort(),
    );
    const second = await cairn('catalog', 'check', '--json');
    expect(second.code, second.stdout).toBe(0);
    expect((JSON.parse(second.stdout) as CatalogCheckReport).findings).toEqual([]);
  }, 60_000);

  it('deleted nothing good: the good image restores byte for byte, the broken ones stay listed and are refused', async () => {
    const target = join(work, 'restore');
    const restore = await cairn('restore', '--backup-id', ids.good, '--to', target, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);

    const images = JSON.parse((await cairn('images', '--json')).stdout) as { backupId: string }[];
    expect(images.map((i) => i.backupId).sort()).toEqual([ids.good, ids.short, ids.gone].sort());
    const refused = await cairn('restore', '--backup-id', ids.short, '--to', join(work, 'refused'), '--json');
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain('marked broken by the catalog check');
    const jobs = JSON.parse((await cairn('jobs', 'show', '900', '--json')).stdout) as { state: string; statusCode: number };
    expect(jobs).toMatchObject({ state: 'DONE', statusCode: 2002 });
  }, 60_000);
});
