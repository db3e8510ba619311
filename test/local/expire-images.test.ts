import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { expirationPlan, expireImageNow, runExpiration, setImageExpiry, type ExpirationDeps } from '#core/catalog/expire-images.ts';
import { recordTapeWrites } from '#core/catalog/tape-writes.ts';
import { commitImage } from '#core/catalog/catalog-service.ts';
import type { Image } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { frozen } from '#core/media/media-changes.ts';
import { CairnError } from '#core/errors.ts';
import { RestoreJob, VerifyJob } from '#core/model/job.ts';
import { claimAndCommit, sampleImage, sampleJob } from '../contracts/fixtures.ts';

const DAY = 86_400_000;

/** `target` with some methods replaced (a fault between two steps); the others called on `target` itself. */
function wrapped<T extends object>(target: T, over: Partial<T>): T {
  return new Proxy(target, {
    get: (t, p) => {
      if (p in over) return over[p as keyof T];
      const value = Reflect.get(t, p) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}
const t0 = new Date('2026-11-02T20:00:00Z');
const day = (n: number): Date => new Date(t0.getTime() + n * DAY);
const root = '/tmp/i12-expiration';

/**
 * The expiration executor on the standalone runtime's real parts: the SQLite
 * catalog, jobs and media manager, and the local disk unit's files. Faults
 * are injected by wrapping a port (a store whose delete fails, a catalog
 * whose last step fails), as a kill between two steps would leave it.
 */
describe('expiring images on the standalone runtime', () => {
  let work: string;
  let rt: LocalRuntime;
  let store: ObjectStore;
  const clock = new FakeClock(t0);

  beforeEach(async () => {
    mkdirSync(root, { recursive: true });
    work = join(root, `exec-${process.pid}-${Math.random().toString(36).slice(2)}`);
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    store = await openStorageUnit((await rt.config.getStorageUnit('local-disk'))!);
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  const deps = (over: Partial<ExpirationDeps> = {}): ExpirationDeps => ({ catalog: rt.catalog, config: rt.config, jobs: rt.jobs, media: rt.media, emm: rt.emm, openStorageUnit, ...over });

  /** An image on local-disk with its objects really written (fragment, index, manifest, block maps). */
  async function written(n: number, retention: number, base?: Image, jobId = n + 1): Promise<Image> {
    const at = day(n);
    const image = sampleImage('c1', at, {
      storageUnit: 'local-disk',
      jobId,
      level: base ? 'differential-incremental' : 'full',
      expiresAt: new Date(at.getTime() + retention * DAY).toISOString(),
      ...(base ? { baseBackupId: base.backupId } : {}),
    });
    const folder = `images/c1/${image.backupId}/`;
    for (const name of ['fragment-00001.tar', 'index.ndjson.gz', 'manifest.json', 'blocks.bin']) await store.put(folder + name, Buffer.alloc(100, n));
    await claimAndCommit(rt.catalog, image);
    return image;
  }

  it('expires on the date: rows and every object of the image gone, other images untouched', async () => {
    const a = await written(0, 3);
    const b = await written(1, 30);
    const run = await runExpiration(deps(), day(3));
    expect(run).toMatchObject({ expired: [{ backupId: a.backupId, objectsDeleted: 4, bytesDeleted: 400 }], kept: [], deferred: 0, problems: [] });
    expect(await rt.catalog.getImage(a.backupId)).toBeUndefined();
    expect(await store.list('images/c1/')).toEqual(['fragment-00001.tar', 'index.ndjson.gz', 'manifest.json', 'blocks.bin'].map((n) => `images/c1/${b.backupId}/${n}`).sort());
    expect((await runExpiration(deps(), day(3))).expired).toEqual([]);
  });

  it('keeps a full its incremental needs, and expires both on the incremental’s date', async () => {
    const full = await written(0, 2);
    const incr = await written(1, 5, full);
    const run = await runExpiration(deps(), day(3));
    expect(run.expired).toEqual([]);
    expect(run.kept).toEqual([expect.objectContaining({ backupId: full.backupId, neededBy: incr.backupId, reason: `kept: incremental ${incr.backupId} taken against it still needs it until ${incr.expiresAt}` })]);
    expect(await store.list(`images/c1/${full.backupId}/`)).toHaveLength(4);
    expect((await runExpiration(deps(), day(6))).expired.map((e) => e.backupId)).toEqual([incr.backupId, full.backupId]);
    expect(await store.list('images/')).toEqual([]);
    expect(await rt.catalog.listImages()).toEqual([]);
  });

  it('does at most maxImages per run, dependants first, and the next run does the rest', async () => {
    const full = await written(0, 1);
    const i1 = await written(1, 1, full);
    const i2 = await written(2, 1, i1);
    const first = await runExpiration(deps(), day(10), { maxImages: 2 });
    expect(first.expired.map((e) => e.backupId)).toEqual([i2.backupId, i1.backupId]);
    expect(first.deferred).toBe(1);
    expect((await runExpiration(deps(), day(10), { maxImages: 2 })).expired.map((e) => e.backupId)).toEqual([full.backupId]);
  });

  it('finishes an expiration whose data deletion failed half-way, and nothing restores the image meanwhile', async () => {
    const a = await written(0, 1);
    let failures = 1;
    const faulty: ExpirationDeps['openStorageUnit'] = async (unit) => {
      const real = await openStorageUnit(unit);
      return wrapped(real, {
        deletePrefix: async (prefix: string) => {
          // Half the folder goes, then the "process dies".
          await real.delete(`${prefix}fragment-00001.tar`);
          if (failures-- > 0) throw new Error('killed between two deletes');
          return real.deletePrefix(prefix);
        },
      });
    };
    const run = await runExpiration(deps({ openStorageUnit: faulty }), day(2));
    expect(run.expired).toEqual([]);
    expect(run.problems).toEqual([`image ${a.backupId}: killed between two deletes; tried again at the next cleanup`]);
    // Decided: EXPIRED, so no point-in-time view or base picks it, though its row and some data remain.
    expect(await rt.catalog.getImage(a.backupId)).toMatchObject({ state: 'EXPIRED' });
    expect(await store.list(`images/c1/${a.backupId}/`)).toHaveLength(3);
    const plan = await expirationPlan(deps(), day(2));
    expect(plan.expire).toEqual([expect.objectContaining({ backupId: a.backupId, reason: 'finishing an expiration begun earlier' })]);
    const again = await runExpiration(deps({ openStorageUnit: faulty }), day(2));
    expect(again.expired.map((e) => e.backupId)).toEqual([a.backupId]);
    expect(await store.list('images/')).toEqual([]);
    expect(await rt.catalog.getImage(a.backupId)).toBeUndefined();
  });

  it('finishes an expiration killed after the data went and before the row did', async () => {
    const a = await written(0, 1);
    const failing = wrapped(rt.catalog, {
      removeExpiredImage: async () => {
        throw new Error('killed before the row was removed');
      },
    });
    const run = await runExpiration(deps({ catalog: failing }), day(2));
    expect(run.problems).toHaveLength(1);
    expect(await store.list('images/')).toEqual([]);
    expect(await rt.catalog.getImage(a.backupId)).toMatchObject({ state: 'EXPIRED' });
    expect((await runExpiration(deps(), day(2))).expired).toMatchObject([{ backupId: a.backupId, objectsDeleted: 0, reason: 'finishing an expiration begun earlier' }]);
    expect(await rt.catalog.listImages()).toEqual([]);
  });

  it('takes an expiration back, before any byte is deleted, when an incremental was committed against the image meanwhile', async () => {
    const full = await written(0, 1);
    let late: Image | undefined;
    // The incremental commits between the plan (which saw none) and the mark.
    const racing = wrapped(rt.catalog, {
      updateImage: async (id: string, change: Parameters<typeof rt.catalog.updateImage>[1]) => {
        if (!late) late = await written(1, 10, full, 50);
        return rt.catalog.updateImage(id, change);
      },
    });
    const run = await runExpiration(deps({ catalog: racing }), day(2));
    expect(run.expired).toEqual([]);
    expect(run.kept).toEqual([expect.objectContaining({ backupId: full.backupId, neededBy: late!.backupId })]);
    expect(await rt.catalog.getImage(full.backupId)).toMatchObject({ state: 'ACTIVE' });
    expect(await store.list(`images/c1/${full.backupId}/`)).toHaveLength(4);
  });

  it('withdraws an incremental committed against a base that expired while it was taken (the Catalog step’s side of the race)', async () => {
    const full = await written(0, 1);
    const backupId = sampleImage('c1', day(3)).backupId;
    await rt.jobs.create(sampleJob(60, { client: 'c1', state: 'ACTIVE', level: 'differential-incremental', baseBackupId: full.backupId, backupId, storageUnit: 'local-disk' }));
    expect(await rt.catalog.claimBackupId({ backupId, jobId: 60, client: 'c1', storageUnit: 'local-disk', claimedAt: day(3).toISOString() })).toBe(true);
    // The cleanup ran between the broker's choice and the commit (its plan did not see the job, as when it read the jobs first).
    await rt.catalog.updateImage(full.backupId, (i) => ({ ...i, state: 'EXPIRED' }));
    const result = { backupId, statusCode: 0, fragments: [], fileCount: 0, bytes: 0, indexKey: `images/c1/${backupId}/index.ndjson.gz`, indexSha256: 'b'.repeat(64), manifestKey: `images/c1/${backupId}/manifest.json`, unreadable: [], unreadableCount: 0, writerWaits: 0, readerWaits: 0, elapsedMs: 5 };
    await expect(commitImage({ jobs: rt.jobs, catalog: rt.catalog }, 60, result, day(3))).rejects.toThrow(`image ${backupId} was taken against ${full.backupId}, which is being expired; the image was withdrawn`);
    expect(await rt.catalog.getImage(backupId)).toBeUndefined();
    // Its data stays claimed by the job, for the janitor.
    expect((await rt.catalog.listClaims()).map((c) => c.backupId)).toEqual([backupId]);
  });

  it('never deletes an image another run marked while an ACTIVE image needs it; --force takes both', async () => {
    const full = await written(0, 1);
    const incr = await written(1, 30, full);
    // A run marked the full and died before its check (or is about to take its mark back).
    await rt.catalog.updateImage(full.backupId, (i) => ({ ...i, state: 'EXPIRED' }));
    const run = await runExpiration(deps(), day(5));
    expect(run.expired).toEqual([]);
    expect(run.problems).toEqual([
      `image ${full.backupId}: it is EXPIRED, but ${incr.backupId} needs it (incremental ${incr.backupId} was taken against it while it was being expired (until ${incr.expiresAt})): left for the run that marked it; if none is running (it died), its data is whole: \`cairn images expire --backup-id ${full.backupId} --force\` expires it with what needs it; tried again at the next cleanup`,
    ]);
    expect(await store.list(`images/c1/${full.backupId}/`)).toHaveLength(4);
    expect((await expireImageNow(deps(), full.backupId, day(5), { force: true })).expired.map((e) => e.backupId)).toEqual([incr.backupId, full.backupId]);
    expect(await store.list('images/')).toEqual([]);
  });

  it('keeps the base of a backup job still running', async () => {
    const full = await written(0, 1);
    await rt.jobs.create(sampleJob(77, { client: 'c1', state: 'ACTIVE', level: 'differential-incremental', baseBackupId: full.backupId }));
    const run = await runExpiration(deps(), day(5));
    expect(run.kept).toEqual([expect.objectContaining({ backupId: full.backupId, neededBy: 'job 77' })]);
    await expect(expireImageNow(deps(), full.backupId, day(5), { force: true })).rejects.toThrow(/backup job 77 is being taken against it/);
  });

  it('keeps what a restore or a verify not ended reads: one image, or every image of the client up to a point in time', async () => {
    const full = await written(0, 1);
    const incr = await written(1, 1, full);
    const at = day(1).toISOString();
    const base = { state: 'QUEUED' as const, queuedAt: at, updatedAt: at, client: 'c1', target: { client: 'c1', directory: '/tmp/nowhere' } };
    await rt.jobs.create(RestoreJob.parse({ jobId: 81, type: 'restore', ...base, source: { pointInTime: incr.createdAt } }));
    let run = await runExpiration(deps(), day(5));
    expect(run.expired).toEqual([]);
    expect(run.kept.map((k) => [k.backupId, k.reason]).sort()).toEqual([
      [full.backupId, 'kept: restore job 81 reads it and needs it until it ends'],
      [incr.backupId, 'kept: restore job 81 reads it and needs it until it ends'],
    ]);
    await rt.jobs.update(81, (j) => ({ ...j, state: 'DONE', statusCode: 0, endedAt: at }));
    await rt.jobs.create(VerifyJob.parse({ jobId: 82, type: 'verify', state: 'ACTIVE', queuedAt: at, updatedAt: at, client: 'c1', image: full.backupId, storageUnit: 'local-disk' }));
    await expect(expireImageNow(deps(), full.backupId, day(5), { force: true })).rejects.toThrow(/verify job 82 reads it/);
    await rt.jobs.update(82, (j) => ({ ...j, state: 'DONE', statusCode: 0, endedAt: at }));
    run = await runExpiration(deps(), day(5));
    expect(run.expired.map((e) => e.backupId).sort()).toEqual([full.backupId, incr.backupId].sort());
  });

  it('lets the administrator expire an image now, refusing one others need unless --force, which takes them too', async () => {
    const full = await written(0, 30);
    const incr = await written(1, 30, full);
    const refusal = await expireImageNow(deps(), full.backupId, day(2)).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(CairnError);
    expect((refusal as CairnError).statusCode).toBe(20);
    expect((refusal as CairnError).message).toContain(`incremental ${incr.backupId} was taken against it and still needs it`);
    expect(await store.list('images/')).toHaveLength(8);
    const dry = await expireImageNow(deps(), full.backupId, day(2), { force: true, dryRun: true });
    expect(dry.expired.map((e) => e.backupId)).toEqual([incr.backupId, full.backupId]);
    expect(await rt.catalog.listImages()).toHaveLength(2);
    const run = await expireImageNow(deps(), full.backupId, day(2), { force: true });
    expect(run.expired.map((e) => e.backupId)).toEqual([incr.backupId, full.backupId]);
    expect(await store.list('images/')).toEqual([]);
    await expect(expireImageNow(deps(), full.backupId, day(2))).rejects.toThrow(`image ${full.backupId} not found`);
  });

  it('sets an image’s expiration date (bpexpdate), refusing an image being expired', async () => {
    const a = await written(0, 30);
    expect(await setImageExpiry(deps(), a.backupId, day(2))).toMatchObject({ expiresAt: day(2).toISOString() });
    expect((await runExpiration(deps(), day(1))).expired).toEqual([]);
    expect((await runExpiration(deps(), day(2))).expired.map((e) => e.backupId)).toEqual([a.backupId]);
    await expect(setImageExpiry(deps(), a.backupId, day(9))).rejects.toThrow(/not found/);
    const b = await written(3, 30);
    await rt.catalog.updateImage(b.backupId, (i) => ({ ...i, state: 'EXPIRED' }));
    await expect(setImageExpiry(deps(), b.backupId, day(90))).rejects.toThrow(/is being expired/);
  });

  describe('on tape', () => {
    /** A tape unit on robot r1 / pool p1, its index on local-disk's directory; an image with fragments on V00001 (and V00002). */
    async function tapeImage(n: number, retention: number, volumes: string[]): Promise<Image> {
      const at = day(n);
      const image = sampleImage('c1', at, { storageUnit: 'tape1', jobId: 100 + n, expiresAt: new Date(at.getTime() + retention * DAY).toISOString() });
      const frags = volumes.map((mediaId, i) => ({ number: i + 1, bytes: 1000, sha256: 'a'.repeat(64), location: { kind: 'tape' as const, mediaId, fileNumber: n + 1, blockOffset: 2 } }));
      const tapeImage: Image = { ...image, copies: [{ ...image.copies[0]!, fragments: frags }] };
      for (const name of ['index.ndjson.gz', 'manifest.json']) await store.put(`images/c1/${image.backupId}/${name}`, Buffer.alloc(10));
      await recordTapeWrites(rt.emm, tapeImage, retention, at);
      await claimAndCommit(rt.catalog, tapeImage);
      return tapeImage;
    }
    beforeEach(async () => {
      const disk = (await rt.config.getStorageUnit('local-disk'))!;
      await rt.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'r1', pool: 'p1', index: disk }));
      await rt.emm.addPool({ name: 'p1' });
      for (const id of ['V00001', 'V00002']) await rt.emm.addMedia({ ...newMedia(id, t0, { pool: 'p1' }), tapeFiles: 1 });
    });

    it('returns a volume to scratch when its last image expires, and not before', async () => {
      const a = await tapeImage(0, 2, ['V00001']);
      const b = await tapeImage(1, 5, ['V00001', 'V00002']);
      const first = await runExpiration(deps(), day(3));
      expect(first.expired).toMatchObject([{ backupId: a.backupId, volumes: ['V00001'] }]);
      expect(first.recycled).toEqual([]);
      expect(await rt.emm.getMedia('V00001')).toMatchObject({ pool: 'p1', state: 'ACTIVE', images: [b.backupId] });
      expect(await store.list(`images/c1/${a.backupId}/`)).toEqual([]);
      const second = await runExpiration(deps(), day(6));
      expect(second.recycled).toEqual([
        { mediaId: 'V00001', fromPool: 'p1' },
        { mediaId: 'V00002', fromPool: 'p1' },
      ]);
      const v1 = await rt.emm.getMedia('V00001');
      expect(v1).toMatchObject({ pool: 'scratch', state: 'UNASSIGNED', images: [], tapeFiles: 0, bytesWritten: 0 });
      expect(v1).not.toHaveProperty('expiresAt');
      expect(v1).not.toHaveProperty('retentionDays');
      expect(await store.list('images/')).toEqual([]);
    });

    it('never recycles a volume a job holds or one on hold, and recycles it at a later run once free', async () => {
      await tapeImage(0, 1, ['V00001']);
      await tapeImage(1, 1, ['V00002']);
      await rt.emm.updateMedia('V00002', frozen);
      expect((await rt.media.reserve({ jobId: 9, resources: [{ kind: 'volume', pool: 'p1', mediaId: 'V00001' }], at: day(3) })).granted).toBe(true);
      const run = await runExpiration(deps(), day(3));
      expect(run.expired).toHaveLength(2);
      expect(run.recycled).toEqual([]);
      expect(run.problems).toEqual([
        'volume V00001 holds no image any more but stays out of scratch: job 9 holds it',
        'volume V00002 holds no image any more but stays out of scratch: it is FROZEN: it stays in pool p1 until an operator releases it',
      ]);
      expect(await rt.emm.getMedia('V00001')).toMatchObject({ pool: 'p1', images: [] });
      await rt.media.release(9);
      expect((await runExpiration(deps(), day(4))).recycled).toEqual([{ mediaId: 'V00001', fromPool: 'p1' }]);
      expect(await rt.emm.getMedia('V00002')).toMatchObject({ pool: 'p1', state: 'FROZEN' });
    });
  });
});
