import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localScheduler, type LocalTickResult } from '#local/scheduler-tick.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { imageAt } from '#core/catalog/point-in-time.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import type { Image } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { NotFoundError } from '#core/errors.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const DAY = 86_400_000;
const DAYS = 100;
const FULL_RETENTION = 7;
const INCR_RETENTION = 10;
const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const root = '/tmp/i12-expiration';

interface Taken {
  backupId: string;
  level: Image['level'];
  createdAt: number;
  expiresAt: number;
  /** The tree as it was backed up: file name → content. */
  files: Record<string, string>;
}

/** When an image must be gone: its own date, or later while the incremental taken against it (and so on down the chain) still lives. */
function expectedEnds(taken: readonly Taken[]): Map<string, number> {
  const ends = new Map<string, number>();
  for (let i = taken.length - 1; i >= 0; i--) {
    const next = taken[i + 1];
    // Differential incrementals: each is taken against the image before it; a full starts a new chain.
    const needed = next && next.level !== 'full' ? ends.get(next.backupId)! : -Infinity;
    ends.set(taken[i]!.backupId, Math.max(taken[i]!.expiresAt, needed));
  }
  return ends;
}

function readTree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir)) files[name] = readFileSync(join(dir, name), 'utf8');
  return files;
}

/**
 * Issue 12's done-when for expiration, on the standalone runtime's real
 * parts: 100 simulated days of the real scheduler tick (a fake clock moved a
 * day at a time), a daily differential incremental and a weekly full of a
 * small real tree that changes every day. Fulls are kept 7 days and
 * incrementals 10, so a full must outlive its own date until the last
 * incremental of its week expires. Every day: the catalog holds exactly the
 * images that must still be there (each went on the right day, none
 * early), a point-in-time restore of the oldest image still inside its
 * retention and of the day's sample rebuild their tree byte for byte, and
 * the storage unit holds no object the catalog does not own.
 */
describe('100 days of daily incrementals and weekly fulls, expired by the scheduler tick', () => {
  let work: string;
  let rt: LocalRuntime;
  let store: ObjectStore;
  const clock = new FakeClock(new Date(Math.floor(Date.now() / DAY) * DAY + 3_600_000));

  beforeAll(async () => {
    // As `cairn local serve` does: one reader thread kept between the hundred jobs.
    ReaderThread.keepIdleThread();
    work = join(root, `hundred-days-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'source'), { recursive: true });
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    store = await openStorageUnit((await rt.config.getStorageUnit('local-disk'))!);
  });
  afterAll(() => {
    rt?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('expires every image on its day, keeps every restore inside retention whole, and leaves no unowned object', { timeout: 600_000 }, async () => {
    const source = join(work, 'source');
    for (let f = 0; f < 4; f++) writeFileSync(join(source, `f${f}.txt`), `file ${f} as first written\n`);
    await rt.config.putPolicy(
      samplePolicy('office', {
        selections: [source],
        storageUnit: 'local-disk',
        clients: [{ name: 'pc1', priority: 1 }],
        schedules: [
          { name: 'weekly-full', type: 'full', frequency: 7 * 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: FULL_RETENTION } },
          { name: 'daily-incr', type: 'differential-incremental', frequency: 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: INCR_RETENTION } },
        ],
      }),
    );
    const taken: Taken[] = [];
    let keptPastDate = 0;
    let restores = 0;
    const restoreCheck = async (t: Taken, label: string): Promise<void> => {
      const image = await imageAt(rt.catalog, { client: 'pc1', at: new Date(t.createdAt) });
      expect(image.backupId, label).toBe(t.backupId);
      const openImage = async (backupId: string) => {
        const found = await rt.catalog.getImage(backupId);
        if (!found || found.state !== 'ACTIVE') throw new NotFoundError('image', backupId);
        return { image: found, store };
      };
      const target = join(work, 'restore');
      rmSync(target, { recursive: true, force: true });
      // Times by Node and touch: no Python helper started per restore (a second each through a pyenv shim).
      const restored = await restorePointInTime({ image, openImage, targetDir: target, exactTimes: { python: false } });
      expect(restored.refused, label).toEqual([]);
      expect(readTree(join(target, source)), label).toEqual(t.files);
      restores++;
    };

    for (let day = 0; day < DAYS; day++) {
      if (day > 0) {
        clock.advance(DAY);
        // The tree changes every day: a rewrite, and every third day a new file, every fifth the oldest new file removed.
        writeFileSync(join(source, `f${day % 4}.txt`), `file ${day % 4} on day ${day}\n`);
        if (day % 3 === 0) writeFileSync(join(source, `new-${day}.txt`), `new on day ${day}\n`);
        if (day % 5 === 0) {
          const oldest = readdirSync(source).filter((n) => n.startsWith('new-')).sort((a, b) => Number(a.slice(4, -4)) - Number(b.slice(4, -4)))[0];
          if (oldest) rmSync(join(source, oldest));
        }
      }
      const runs: BackupRun[] = [];
      const scheduler = localScheduler(rt, { onEnded: (_n, run) => runs.push(run) });
      const tick: LocalTickResult = await scheduler.tick();
      await scheduler.settled();
      expect(runs.map((r) => r.statusCode), `day ${day}: one backup`).toEqual([0]);
      expect(tick.expiration.problems, `day ${day}`).toEqual([]);
      keptPastDate += tick.expiration.kept.length;
      const image = (await rt.catalog.getImage(runs[0]!.backupId!))!;
      expect(image.level, `day ${day}`).toBe(day % 7 === 0 ? 'full' : 'differential-incremental');
      taken.push({ backupId: image.backupId, level: image.level, createdAt: Date.parse(image.createdAt), expiresAt: Date.parse(image.expiresAt), files: readTree(source) });

      // Exactly the images that must be there (the tick's cleanup ran after the day's backup started).
      const now = clock.now().getTime();
      const ends = expectedEnds(taken);
      const alive = taken.filter((t) => ends.get(t.backupId)! > now);
      const catalogued = await rt.catalog.listImages({ client: 'pc1' });
      expect(catalogued.map((i) => i.backupId).sort(), `day ${day}: images in the catalog`).toEqual(alive.map((t) => t.backupId).sort());
      expect(catalogued.every((i) => i.state === 'ACTIVE')).toBe(true);

      // A restore inside retention each day: on even days the oldest image still inside its own retention (the one whose
      // chain the cleanup cut closest to), on odd days a sample spread over the rest.
      const inRetention = alive.filter((t) => t.expiresAt > now);
      const sample = day % 2 === 0 ? inRetention[0]! : inRetention[(day * 7) % inRetention.length]!;
      await restoreCheck(sample, `day ${day}: point-in-time restore of ${sample.backupId}`);

      // Storage holds only what the catalog owns: every object lies in the folder of a catalogued image, and each image's folder exists.
      const owned = new Set(catalogued.map((i) => `images/pc1/${i.backupId}/`));
      const keys = await store.list('');
      const strays = keys.filter((k) => !owned.has(k.slice(0, k.lastIndexOf('/') + 1)));
      expect(strays, `day ${day}: objects no catalogued image owns`).toEqual([]);
      for (const i of catalogued) for (const key of [i.copies[0]!.indexKey, i.copies[0]!.manifestKey]) expect(keys).toContain(key);
      expect(await store.listIncomplete(''), `day ${day}`).toEqual([]);
    }
    // The rule was exercised: fulls were kept past their date for their week's incrementals, and images did expire.
    expect(keptPastDate).toBeGreaterThan(50);
    expect(taken.length - (await rt.catalog.listImages()).length).toBeGreaterThan(80);
    expect(restores).toBe(DAYS);
  });
});
