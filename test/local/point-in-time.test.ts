import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { tickAndWait } from './tick-and-wait.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { imageAt } from '#core/catalog/point-in-time.ts';
import { restorePointInTime, listImagePath } from '#agent/restore/point-in-time.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/**
 * Issue 3's end-to-end case: scheduler ticks run a full, the tree changes
 * (files rewritten, deleted, renamed, added), ticks run incrementals, and a
 * point-in-time restore at each backup time rebuilds the tree as it was then.
 */
describe('incrementals and point-in-time restore in the standalone runtime', () => {
  let work: string;
  let rt: LocalRuntime;
  const clock = new FakeClock(new Date());
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-pit-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('takes a full, then incrementals, and restores each point in time byte for byte', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 300_000 });
    writeFileSync(join(source, 'to-delete.txt'), 'gone soon');
    writeFileSync(join(source, 'to-rename.txt'), 'renamed later');
    await rt.config.putPolicy(
      samplePolicy('office', {
        selections: [source],
        storageUnit: 'local-disk',
        clients: [{ name: 'pc1', priority: 1 }],
        schedules: [
          { name: 'weekly-full', type: 'full', frequency: 7 * 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 30 } },
          { name: 'daily-incr', type: 'differential-incremental', frequency: 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 30 } },
        ],
      }),
    );
    const snapshots: { backupId: string; at: Date; copy: string }[] = [];
    const tick = async (label: string): Promise<string> => {
      const runs = await tickAndWait(rt);
      expect(runs.map((r) => r.statusCode), label).toEqual([0]);
      const copy = join(work, `snapshot-${snapshots.length}`);
      execFileSync('cp', ['-a', source, copy]);
      snapshots.push({ backupId: runs[0]!.backupId!, at: clock.now(), copy });
      return runs[0]!.backupId!;
    };

    const full = await tick('day 0: the full');
    expect(await rt.catalog.getImage(full)).toMatchObject({ level: 'full', schedule: 'weekly-full' });

    // Day 1: a rewrite of the same size (only mtime and ctime tell), a deletion, a rename, a new file.
    const report = join(source, 'docs', 'reports', '2026', 'quarterly report.txt');
    writeFileSync(join(source, 'run.sh'), '#!/bin/sh\necho HELLO\n');
    rmSync(join(source, 'to-delete.txt'));
    renameSync(join(source, 'to-rename.txt'), join(source, 'renamed.txt'));
    writeFileSync(join(source, 'docs', 'new file.txt'), 'new on day 1');
    clock.advance(86_400_000);
    const incr1 = await tick('day 1: an incremental');
    const image1 = (await rt.catalog.getImage(incr1))!;
    expect(image1).toMatchObject({ level: 'differential-incremental', baseBackupId: full });

    // Day 2: an append to a hard-linked file, and a file whose mtime is set back (ctime still moves).
    appendFileSync(report, 'Q4 too.\n');
    const key = join(source, 'secret.key');
    writeFileSync(key, Buffer.alloc(64, 7));
    utimesSync(key, new Date('2020-02-29T12:34:56.789Z'), new Date('2020-02-29T12:34:56.789Z'));
    clock.advance(86_400_000);
    const incr2 = await tick('day 2: another incremental');
    expect(await rt.catalog.getImage(incr2)).toMatchObject({ level: 'differential-incremental', baseBackupId: incr1 });

    const unit = (await rt.config.getStorageUnit('local-disk'))!;
    const store = await openStorageUnit(unit);
    const openImage = async (backupId: string) => ({ image: (await rt.catalog.getImage(backupId))!, store });
    // Unchanged files are not in the incremental's fragments: it is much smaller than the full.
    expect(image1.bytes).toBeLessThan((await rt.catalog.getImage(full))!.bytes / 2);

    for (const [i, snapshot] of snapshots.entries()) {
      const image = await imageAt(rt.catalog, { client: 'pc1', at: snapshot.at });
      expect(image.backupId).toBe(snapshot.backupId);
      const target = join(work, `restore-${i}`);
      const restored = await restorePointInTime({ image, openImage, targetDir: target });
      expect(restored.refused).toEqual([]);
      const comparison = await compareTrees(snapshot.copy, join(target, source));
      expect(comparison.differences, `restore at ${snapshot.backupId}`).toEqual([]);
    }

    // bplist: the day-1 listing has the renamed file once and no deleted file.
    const names = (await listImagePath(store, image1, source)).map((e) => e.path.slice(source.length + 1));
    expect(names).toContain('renamed.txt');
    expect(names).not.toContain('to-rename.txt');
    expect(names).not.toContain('to-delete.txt');
  });
});
