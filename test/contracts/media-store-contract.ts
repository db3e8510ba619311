import { describe, expect, it } from 'vitest';
import type { MediaStore } from '#core/ports/media-store.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

export function describeMediaStoreContract(adapter: string, open: OpenStore<MediaStore>, skipReason?: string): void {
  describeContract('MediaStore', adapter, open, skipReason, (store) => {
    const at = new Date('2026-11-01T02:00:00Z');
    const reserve = (jobId: number, storageUnit = 'disk1', maxConcurrentJobs = 2) => store().reserve({ jobId, storageUnit, maxConcurrentJobs, at });

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
        { jobId: 1, storageUnit: 'disk1', reservedAt: at.toISOString() },
        { jobId: 2, storageUnit: 'disk2', reservedAt: at.toISOString() },
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
}
