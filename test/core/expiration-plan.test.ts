import { describe, expect, it } from 'vitest';
import { planAdministratorExpiration, planExpiration } from '#core/catalog/expiration-plan.ts';
import type { Image } from '#core/model/image.ts';
import { sampleImage } from '../contracts/fixtures.ts';

const DAY = 86_400_000;
const start = Date.UTC(2026, 10, 2, 20, 0, 0);
const day = (n: number): Date => new Date(start + n * DAY);

/** An image taken on day `n`, kept `retention` days, taken against `base` when given. */
function image(n: number, retention: number, base?: Image, client = 'c1'): Image {
  const at = day(n);
  return sampleImage(client, at, {
    level: base ? 'differential-incremental' : 'full',
    schedule: base ? 'daily' : 'weekly',
    expiresAt: new Date(at.getTime() + retention * DAY).toISOString(),
    ...(base ? { baseBackupId: base.backupId } : {}),
  });
}

const ids = (list: { backupId: string }[]): string[] => list.map((e) => e.backupId);

describe('the expiration plan', () => {
  it('expires nothing before its date, and an image on its date to the millisecond', () => {
    const full = image(0, 7);
    expect(planExpiration({ images: [full], now: new Date(Date.parse(full.expiresAt) - 1) })).toEqual({ expire: [], kept: [] });
    const plan = planExpiration({ images: [full], now: new Date(full.expiresAt) });
    expect(plan.expire).toEqual([{ backupId: full.backupId, client: 'c1', expiresAt: full.expiresAt, reason: `expired on ${full.expiresAt}` }]);
    expect(plan.kept).toEqual([]);
  });

  it('keeps a full past its date while an incremental taken against it lives, naming it and its date', () => {
    const full = image(0, 7);
    const incr = image(6, 7, full); // expires on day 13
    const plan = planExpiration({ images: [full, incr], now: day(8) });
    expect(plan.expire).toEqual([]);
    expect(plan.kept).toEqual([
      { backupId: full.backupId, client: 'c1', expiresAt: full.expiresAt, keptUntil: incr.expiresAt, neededBy: incr.backupId, reason: `kept: incremental ${incr.backupId} taken against it still needs it until ${incr.expiresAt}` },
    ]);
    // On the incremental's date both go, the dependant first.
    expect(ids(planExpiration({ images: [full, incr], now: day(13) }).expire)).toEqual([incr.backupId, full.backupId]);
  });

  it('follows a chain: a full is kept until the last incremental of its chain expires, and each link says who needs it', () => {
    const full = image(0, 3);
    const i1 = image(1, 3, full);
    const i2 = image(2, 3, i1);
    const i3 = image(3, 10, i2); // expires day 13
    const images = [i3, full, i2, i1];
    const plan = planExpiration({ images, now: day(6) });
    expect(plan.expire).toEqual([]);
    expect(plan.kept.map((k) => [k.backupId, k.neededBy, k.keptUntil])).toEqual([
      [i2.backupId, i3.backupId, i3.expiresAt],
      [i1.backupId, i2.backupId, i3.expiresAt],
      [full.backupId, i1.backupId, i3.expiresAt],
    ]);
    expect(plan.kept[1]!.reason).toBe(`kept: incremental ${i2.backupId} taken against it still needs it until ${i3.expiresAt}`);
    expect(ids(planExpiration({ images, now: day(13) }).expire)).toEqual([i3.backupId, i2.backupId, i1.backupId, full.backupId]);
  });

  it('names the dependant whose need lasts longest when several were taken against one image', () => {
    const full = image(0, 1);
    const short = image(1, 2, full); // day 3
    const long = image(2, 9, full); // day 11 (a cumulative incremental, say)
    const plan = planExpiration({ images: [full, short, long], now: day(5) });
    expect(ids(plan.expire)).toEqual([short.backupId]);
    expect(plan.kept).toMatchObject([{ backupId: full.backupId, neededBy: long.backupId, keptUntil: long.expiresAt }]);
  });

  it('keeps an image whose own date is later even though its dependants expire first, and never lists it before its date', () => {
    const full = image(0, 30);
    const incr = image(1, 2, full);
    const plan = planExpiration({ images: [full, incr], now: day(10) });
    expect(ids(plan.expire)).toEqual([incr.backupId]);
    expect(plan.kept).toEqual([]);
  });

  it('lets the chain of one client never keep another client’s images', () => {
    const a = image(0, 1, undefined, 'a');
    const b = image(0, 1, undefined, 'b');
    const bIncr = image(1, 20, b, 'b');
    const plan = planExpiration({ images: [a, b, bIncr], now: day(5) });
    expect(ids(plan.expire)).toEqual([a.backupId]);
    expect(ids(plan.kept)).toEqual([b.backupId]);
  });

  it('keeps the base chain of a backup job still running, with no end date', () => {
    const full = image(0, 1);
    const incr = image(1, 1, full);
    const plan = planExpiration({ images: [full, incr], now: day(5), inFlight: [{ jobId: 42, baseBackupId: incr.backupId }, { jobId: 43 }] });
    expect(plan.expire).toEqual([]);
    expect(plan.kept).toEqual([
      { backupId: incr.backupId, client: 'c1', expiresAt: incr.expiresAt, neededBy: 'job 42', reason: 'kept: backup job 42 is being taken against it and needs it until it ends' },
      { backupId: full.backupId, client: 'c1', expiresAt: full.expiresAt, neededBy: 'job 42', reason: 'kept: backup job 42 is being taken against it and needs it until it ends' },
    ]);
  });

  it('keeps what a restore or a verify not ended reads, saying which job reads it', () => {
    const full = image(0, 1);
    const incr = image(1, 1, full);
    const other = image(2, 1);
    const plan = planExpiration({ images: [full, incr, other], now: day(5), inFlight: [{ jobId: 7, baseBackupId: incr.backupId, kind: 'restore' }, { jobId: 8, baseBackupId: other.backupId, kind: 'verify' }] });
    expect(plan.expire).toEqual([]);
    expect(plan.kept.map((k) => [k.backupId, k.reason])).toEqual(
      expect.arrayContaining([
        [incr.backupId, 'kept: restore job 7 reads it and needs it until it ends'],
        [full.backupId, 'kept: restore job 7 reads it and needs it until it ends'],
        [other.backupId, 'kept: verify job 8 reads it and needs it until it ends'],
      ]),
    );
    expect(plan.kept).toHaveLength(3);
  });

  it('lists every EXPIRED image to finish its expiration, whatever its date, and they keep nothing', () => {
    const full = image(0, 1);
    const incr = { ...image(1, 50, full), state: 'EXPIRED' as const };
    const plan = planExpiration({ images: [full, incr], now: day(2) });
    expect(plan.expire).toEqual([
      { backupId: incr.backupId, client: 'c1', expiresAt: incr.expiresAt, reason: 'finishing an expiration begun earlier' },
      { backupId: full.backupId, client: 'c1', expiresAt: full.expiresAt, reason: `expired on ${full.expiresAt}` },
    ]);
  });

  it('ignores a base that is not in the catalog any more, and survives a forged cycle', () => {
    const gone = image(0, 1);
    const incr = image(1, 1, gone);
    expect(ids(planExpiration({ images: [incr], now: day(3) }).expire)).toEqual([incr.backupId]);
    const x = image(2, 1);
    const y = image(3, 1, x);
    const cyclic = { ...x, baseBackupId: y.backupId };
    expect(ids(planExpiration({ images: [cyclic, y], now: day(10) }).expire).sort()).toEqual([x.backupId, y.backupId].sort());
  });

  it('over 100 days of daily incrementals and weekly fulls expires each image on the later of its date and its chain’s last date', () => {
    const images: Image[] = [];
    let base: Image | undefined;
    for (let n = 0; n < 100; n++) {
      const img: Image = n % 7 === 0 ? image(n, 14) : image(n, 7, base);
      images.push(img);
      base = img;
    }
    const expected = new Map<string, number>();
    // The expected day by hand: an image's chain is every image up to the next full.
    for (let n = 0; n < 100; n++) {
      const nextFull = Math.min(100, Math.ceil((n + 1) / 7) * 7);
      let end = Date.parse(images[n]!.expiresAt);
      for (let m = n + 1; m < nextFull; m++) end = Math.max(end, Date.parse(images[m]!.expiresAt));
      expected.set(images[n]!.backupId, end);
    }
    let live = [...images];
    for (let t = start; t <= start + 130 * DAY; t += DAY / 4) {
      const now = new Date(t);
      const visible = live.filter((i) => Date.parse(i.createdAt) <= t);
      const plan = planExpiration({ images: visible, now });
      for (const e of plan.expire) {
        expect(expected.get(e.backupId)! <= t && expected.get(e.backupId)! > t - DAY / 4, `${e.backupId} expires in the right quarter day`).toBe(true);
      }
      for (const k of plan.kept) expect(Date.parse(k.keptUntil!)).toBe(expected.get(k.backupId));
      const gone = new Set(ids(plan.expire));
      // No image left behind needs one that goes.
      for (const i of live) if (!gone.has(i.backupId) && i.baseBackupId) expect(gone.has(i.baseBackupId)).toBe(false);
      live = live.filter((i) => !gone.has(i.backupId));
    }
    expect(live).toEqual([]);
  });
});

describe('an administrator’s expiration of one image', () => {
  const full = image(0, 30);
  const i1 = image(1, 30, full);
  const i2 = image(2, 30, i1);
  const other = image(3, 30);
  const images = [full, i1, i2, other];

  it('expires an image nothing needs at once, whatever its date', () => {
    expect(planAdministratorExpiration({ images, now: day(4), backupId: i2.backupId, force: false })).toEqual({
      allowed: true,
      expire: [{ backupId: i2.backupId, client: 'c1', expiresAt: i2.expiresAt, reason: `expired by the administrator at ${day(4).toISOString()}` }],
    });
  });

  it('refuses an image others need, naming the one taken against it and how many more need it', () => {
    const decision = planAdministratorExpiration({ images, now: day(4), backupId: full.backupId, force: false });
    expect(decision).toEqual({
      allowed: false,
      reason: `image ${full.backupId} cannot be expired: incremental ${i1.backupId} was taken against it and still needs it (and through them 1 more); --force expires it together with every image that needs it: ${i1.backupId}, ${i2.backupId}`,
      dependants: [i1.backupId, i2.backupId],
    });
  });

  it('with --force expires it with every image that needs it, dependants first', () => {
    const decision = planAdministratorExpiration({ images, now: day(4), backupId: full.backupId, force: true });
    expect(decision.allowed && ids(decision.expire)).toEqual([i2.backupId, i1.backupId, full.backupId]);
    expect(decision.allowed && decision.expire[0]!.reason).toBe(`expired by the administrator at ${day(4).toISOString()}, with ${full.backupId} it needs (--force)`);
  });

  it('refuses even with --force an image a running backup is taken against, and an image not in the catalog', () => {
    expect(planAdministratorExpiration({ images, now: day(4), backupId: full.backupId, force: true, inFlight: [{ jobId: 9, baseBackupId: i2.backupId }] })).toEqual({
      allowed: false,
      reason: `image ${full.backupId} cannot be expired now: backup job 9 is being taken against it and needs it until it ends`,
      dependants: ['job 9'],
    });
    expect(planAdministratorExpiration({ images, now: day(4), backupId: 'c1_1000000000', force: true })).toMatchObject({ allowed: false, dependants: [] });
  });
});
