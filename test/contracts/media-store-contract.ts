import { describe, expect, it } from 'vitest';
import type { MediaStore } from '#core/ports/media-store.ts';
import { CairnError, ConflictError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { RequestedResource } from '#core/model/resource-request.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

export function describeMediaStoreContract(adapter: string, open: OpenStore<MediaStore>, skipReason?: string): void {
  describeContract('MediaStore', adapter, open, skipReason, (store) => {
    const at = new Date('2026-11-01T02:00:00Z');
    const reserve = (jobId: number, storageUnit = 'disk1', maxConcurrentJobs = 2) => store().reserve({ jobId, resources: [{ kind: 'storage-unit-slot', storageUnit, maxConcurrentJobs }], at });

    it('grants slots up to the unit maximum and then says why not', async () => {
      expect((await reserve(1)).granted).toBe(true);
      expect((await reserve(2)).granted).toBe(true);
      const third = await reserve(3);
      expect(third.granted).toBe(false);
      if (!third.granted) {
        expect(third.inUse).toBe(2);
        expect(third.reason).toMatch(/disk1/);
      }
    });

    it('counts slots per storage unit', async () => {
      expect((await reserve(1, 'disk1', 1)).granted).toBe(true);
      expect((await reserve(2, 'disk2', 1)).granted).toBe(true);
      expect((await reserve(3, 'disk1', 1)).granted).toBe(false);
    });

    it('grants a job its own reservation again without taking a second slot', async () => {
      expect((await reserve(1, 'disk1', 2)).granted).toBe(true);
      expect((await reserve(1, 'disk1', 2)).granted).toBe(true);
      expect((await store().listReservations('disk1')).map((r) => r.jobId)).toEqual([1]);
      expect((await reserve(2, 'disk1', 2)).granted).toBe(true);
    });

    it('refuses a job that holds a slot of another unit, without taking a second one', async () => {
      expect((await reserve(1, 'disk1', 2)).granted).toBe(true);
      await expect(reserve(1, 'disk2', 2)).rejects.toBeInstanceOf(ConflictError);
      expect(await store().listReservations()).toHaveLength(1);
    });

    it('takes one slot for a job that asks several times at once', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => reserve(7, 'disk1', 3)));
      expect(results.every((r) => r.granted)).toBe(true);
      expect(await store().listReservations('disk1')).toHaveLength(1);
      expect((await reserve(8, 'disk1', 2)).granted).toBe(true);
    });

    it('releases idempotently and frees the slot', async () => {
      await reserve(1, 'disk1', 1);
      expect(await store().release(1)).toBe(true);
      expect(await store().release(1)).toBe(false);
      expect(await store().listReservations()).toEqual([]);
      expect((await reserve(2, 'disk1', 1)).granted).toBe(true);
    });

    it('never grants more slots than the maximum to racing jobs', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => reserve(i + 1, 'disk1', 3)));
      expect(results.filter((r) => r.granted)).toHaveLength(3);
      expect(await store().listReservations('disk1')).toHaveLength(3);
    });

    it('lists reservations by job id with their unit and time', async () => {
      await reserve(2, 'disk2');
      await reserve(1, 'disk1');
      expect(await store().listReservations()).toEqual([
        { jobId: 1, kind: 'storage-unit-slot', storageUnit: 'disk1', reservedAt: at.toISOString() },
        { jobId: 2, kind: 'storage-unit-slot', storageUnit: 'disk2', reservedAt: at.toISOString() },
      ]);
    });

    describe('where adapters used to disagree', () => {
      it('refuses a job id that is not a whole number from 1, and takes no slot', async () => {
        for (const jobId of [0, -3, 2.5]) await expect(reserve(jobId)).rejects.toBeInstanceOf(ValidationError);
        expect(await store().listReservations()).toEqual([]);
      });

      it('reports a job holding another unit as a conflict that is not worth retrying', async () => {
        await reserve(1, 'disk1');
        expect(await reserve(1, 'disk2').catch((e: unknown) => e)).toMatchObject({ statusCode: StatusCode.CONFLICT, retryable: false });
      });
    });
  });

  describeContract('MediaStore resource requests', adapter, open, skipReason, (store) => {
    const at = new Date('2026-11-01T02:00:00Z');
    const slot = (storageUnit: string, maxConcurrentJobs: number): RequestedResource => ({ kind: 'storage-unit-slot', storageUnit, maxConcurrentJobs });
    const request = (jobId: number, ...resources: RequestedResource[]) => store().reserve({ jobId, resources, at });

    it('takes nothing of a request when one of its resources is full, and says which one', async () => {
      expect((await request(1, slot('disk2', 1))).granted).toBe(true);
      const refused = await request(2, slot('disk1', 1), slot('disk2', 1));
      expect(refused).toMatchObject({ granted: false, refused: { kind: 'storage-unit-slot', storageUnit: 'disk2' }, inUse: 1, reason: expect.stringMatching(/disk2/) });
      expect((await store().listReservations()).map((r) => r.jobId)).toEqual([1]);
      // disk1's slot was not taken by the refused request
      expect((await request(3, slot('disk1', 1))).granted).toBe(true);
    });

    it('grants every resource of a request at once', async () => {
      const granted = await request(1, slot('disk2', 1), slot('disk1', 1));
      expect(granted.granted && granted.reservations.map((r) => r.kind === 'storage-unit-slot' && r.storageUnit)).toEqual(['disk1', 'disk2']);
      expect(await store().listReservations()).toEqual([
        { jobId: 1, kind: 'storage-unit-slot', storageUnit: 'disk1', reservedAt: at.toISOString() },
        { jobId: 1, kind: 'storage-unit-slot', storageUnit: 'disk2', reservedAt: at.toISOString() },
      ]);
      expect((await store().listReservations('disk2')).map((r) => r.jobId)).toEqual([1]);
    });

    it('grants a job that holds its whole request again, without taking more', async () => {
      const first = await request(1, slot('disk1', 2), slot('disk2', 2));
      const again = await request(1, slot('disk2', 2), slot('disk1', 2));
      expect(again).toEqual(first);
      expect(await store().listReservations()).toHaveLength(2);
      expect((await request(2, slot('disk1', 2), slot('disk2', 2))).granted).toBe(true);
      expect((await request(3, slot('disk1', 2))).granted).toBe(false);
    });

    it('refuses a job whose request differs from what it holds, and takes nothing more', async () => {
      await request(1, slot('disk1', 2));
      await expect(request(1, slot('disk1', 2), slot('disk2', 2))).rejects.toBeInstanceOf(ConflictError);
      expect(await store().listReservations()).toHaveLength(1);
    });

    it('gives back every resource of the job on release', async () => {
      await request(1, slot('disk1', 1), slot('disk2', 1));
      expect(await store().release(1)).toBe(true);
      expect(await store().listReservations()).toEqual([]);
      expect((await request(2, slot('disk1', 1), slot('disk2', 1))).granted).toBe(true);
      expect(await store().release(1)).toBe(false);
    });

    it('lets exactly one of many racers take the last slot, and a multi-resource loser takes nothing', async () => {
      expect((await request(100, slot('disk1', 3), slot('disk2', 9))).granted).toBe(true);
      expect((await request(101, slot('disk1', 3))).granted).toBe(true);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => request(i + 1, slot('disk1', 3), slot('disk2', 9))));
      expect(results.filter((r) => r.granted)).toHaveLength(1);
      expect(await store().listReservations('disk1')).toHaveLength(3);
      // disk2 counts the winner and job 100 only: no loser kept its disk2 slot
      expect(await store().listReservations('disk2')).toHaveLength(2);
    });

    it('refuses unnamed drives and volumes and malformed requests with status 20, naming what was asked for', async () => {
      const refusals: [RequestedResource[], RegExp][] = [
        [[slot('disk1', 2), { kind: 'drive', storageUnit: 'tld1' }], /a drive of storage unit tld1: a drive must be named/],
        [[{ kind: 'volume', pool: 'weekly' }], /a volume of pool weekly: a volume must be named/],
        [[{ kind: 'volume', pool: 'weekly', mediaId: 'A00001' }, { kind: 'volume', pool: 'weekly', mediaId: 'A00001' }], /volume A00001 of pool weekly twice/],
        [[], /names no resource/],
        [[slot('disk1', 2), slot('disk1', 2)], /slot of storage unit disk1 twice/],
      ];
      for (const [resources, message] of refusals) {
        const refused = store().reserve({ jobId: 1, resources, at });
        await expect(refused).rejects.toBeInstanceOf(CairnError);
        await expect(refused).rejects.toMatchObject({ statusCode: 20, message: expect.stringMatching(message) });
      }
      expect(await store().listReservations()).toEqual([]);
    });
  });
  describeContract('MediaStore tape drives and volumes', adapter, open, skipReason, (store) => {
    const at = new Date('2026-11-01T02:00:00Z');
    const slot = (storageUnit = 'tld1', maxConcurrentJobs = 50): RequestedResource => ({ kind: 'storage-unit-slot', storageUnit, maxConcurrentJobs });
    const drive = (name: string, storageUnit = 'tld1'): RequestedResource => ({ kind: 'drive', storageUnit, drive: name });
    const volume = (mediaId: string, pool = 'weekly'): RequestedResource => ({ kind: 'volume', pool, mediaId });
    const request = (jobId: number, ...resources: RequestedResource[]) => store().reserve({ jobId, resources, at });

    it('grants a slot, a drive and a volume together, and lists them', async () => {
      const granted = await request(1, slot(), drive('d0'), volume('A00001'));
      expect(granted.granted).toBe(true);
      expect(await store().listReservations()).toEqual([
        { jobId: 1, kind: 'drive', storageUnit: 'tld1', drive: 'd0', reservedAt: at.toISOString() },
        { jobId: 1, kind: 'storage-unit-slot', storageUnit: 'tld1', reservedAt: at.toISOString() },
        { jobId: 1, kind: 'volume', pool: 'weekly', mediaId: 'A00001', reservedAt: at.toISOString() },
      ]);
      expect(await request(1, volume('A00001'), drive('d0'), slot())).toEqual(granted);
    });

    it('never gives one drive to two jobs, whatever unit they ask through, and the loser takes nothing', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      const refused = await request(2, slot('tld2'), drive('d0', 'tld2'), volume('A00002'));
      expect(refused).toEqual({ granted: false, refused: drive('d0', 'tld2'), inUse: 1, reason: 'drive d0 is held by job 1' });
      expect((await store().listReservations()).map((r) => r.jobId)).toEqual([1, 1, 1]);
      expect((await request(3, slot(), drive('d1'), volume('A00002'))).granted).toBe(true);
    });

    it('never puts one volume in two drives', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      expect(await request(2, slot(), drive('d1'), volume('A00001', 'other'))).toEqual({ granted: false, refused: volume('A00001', 'other'), inUse: 1, reason: 'volume A00001 is held by job 1' });
      expect(await store().release(1)).toBe(true);
      expect((await request(2, slot(), drive('d1'), volume('A00001'))).granted).toBe(true);
    });

    it('exchanges a full volume for the next one in one step, keeping the slot and the drive', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      const later = new Date(at.getTime() + 60_000);
      const exchanged = await store().exchangeVolume({ jobId: 1, from: 'A00001', to: { pool: 'weekly', mediaId: 'A00002' }, at: later });
      expect(exchanged.granted).toBe(true);
      const held = await store().listReservations();
      expect(held.map((r) => [r.jobId, r.kind, r.kind === 'drive' ? r.drive : r.kind === 'volume' ? r.mediaId : r.storageUnit])).toEqual([
        [1, 'drive', 'd0'],
        [1, 'storage-unit-slot', 'tld1'],
        [1, 'volume', 'A00002'],
      ]);
      if (exchanged.granted) expect(exchanged.reservations.map((r) => r.kind).sort()).toEqual(['drive', 'storage-unit-slot', 'volume']);
      // A retried step is granted again and changes nothing; the full volume is free for another job.
      expect((await store().exchangeVolume({ jobId: 1, from: 'A00001', to: { pool: 'weekly', mediaId: 'A00002' }, at: later })).granted).toBe(true);
      expect(await store().listReservations()).toEqual(held);
      expect((await request(2, slot(), drive('d1'), volume('A00001'))).granted).toBe(true);
      expect(await store().release(1)).toBe(true);
      expect((await store().listReservations()).map((r) => r.jobId)).toEqual([2, 2, 2]);
    });

    it('refuses an exchange for a volume another job holds, and changes nothing', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      await request(2, slot(), drive('d1'), volume('A00002'));
      const before = await store().listReservations();
      const refused = await store().exchangeVolume({ jobId: 1, from: 'A00001', to: { pool: 'weekly', mediaId: 'A00002' }, at });
      expect(refused).toEqual({ granted: false, refused: volume('A00002'), inUse: 1, reason: 'volume A00002 is held by job 2' });
      expect(await store().listReservations()).toEqual(before);
    });

    it('refuses to exchange a volume the job does not hold, with a conflict', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      await expect(store().exchangeVolume({ jobId: 1, from: 'A00009', to: { pool: 'weekly', mediaId: 'A00002' }, at })).rejects.toBeInstanceOf(ConflictError);
      await expect(store().exchangeVolume({ jobId: 7, from: 'A00001', to: { pool: 'weekly', mediaId: 'A00002' }, at })).rejects.toBeInstanceOf(ConflictError);
      expect((await store().listReservations()).filter((r) => r.kind === 'volume').map((r) => r.kind === 'volume' && r.mediaId)).toEqual(['A00001']);
    });

    it('lets one of two jobs racing to exchange for the same volume take it', async () => {
      await request(1, slot(), drive('d0'), volume('A00001'));
      await request(2, slot(), drive('d1'), volume('A00002'));
      const results = await Promise.all([1, 2].map((jobId) => store().exchangeVolume({ jobId, from: jobId === 1 ? 'A00001' : 'A00002', to: { pool: 'weekly', mediaId: 'A00003' }, at })));
      expect(results.filter((r) => r.granted)).toHaveLength(1);
      const volumes = (await store().listReservations()).flatMap((r) => (r.kind === 'volume' ? [r.mediaId] : []));
      expect(volumes.filter((v) => v === 'A00003')).toHaveLength(1);
      expect(volumes).toHaveLength(2);
    });

    it('lets racing jobs hold each drive and each volume once at most', async () => {
      // Twenty jobs race for 2 drives and 4 volumes, each asking for drive i % 2 and volume i % 4.
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => request(i + 1, slot(), drive(`d${i % 2}`), volume(`V${i % 4}`))));
      const held = await store().listReservations();
      const drives = held.flatMap((r) => (r.kind === 'drive' ? [r.drive] : []));
      const volumes = held.flatMap((r) => (r.kind === 'volume' ? [r.mediaId] : []));
      expect(new Set(drives).size).toBe(drives.length);
      expect(new Set(volumes).size).toBe(volumes.length);
      const winners = results.filter((r) => r.granted).length;
      expect(winners).toBeGreaterThanOrEqual(1);
      expect(winners).toBeLessThanOrEqual(2);
      expect(drives).toHaveLength(winners);
      expect(held.filter((r) => r.kind === 'storage-unit-slot')).toHaveLength(winners);
      for (const loser of results.filter((r) => !r.granted)) expect(loser).toMatchObject({ inUse: 1, reason: expect.stringMatching(/^(drive d[01]|volume V[0-3]) is held by job \d+$/) });
      // Everything released, every drive and volume is free again.
      for (const r of held) await store().release(r.jobId);
      expect((await request(99, slot(), drive('d0'), volume('V0'))).granted).toBe(true);
      expect((await request(98, slot(), drive('d1'), volume('V1'))).granted).toBe(true);
    });
  });
}
