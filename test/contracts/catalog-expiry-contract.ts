import { expect, it } from 'vitest';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { type OpenStore, claimAndCommit, sampleImage, describeContract } from './fixtures.ts';

/** The catalog's part of an expiration (core/catalog/expire-images.ts): change an image's date or state, remove an EXPIRED record. */
export function describeCatalogExpiryContract(adapter: string, open: OpenStore<CatalogStore>, skipReason?: string): void {
  describeContract('CatalogStore expiration', adapter, open, skipReason, (store) => {
    const t = (day: number): Date => new Date(Date.UTC(2026, 10, day, 1, 0, 0));

    it('changes an image and returns it as stored; undefined for an image it does not have', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      const later = '2027-01-01T00:00:00.000Z';
      expect(await store().updateImage(image.backupId, (i) => ({ ...i, expiresAt: later }))).toEqual({ ...image, expiresAt: later });
      expect(await store().getImage(image.backupId)).toEqual({ ...image, expiresAt: later });
      // No change asked: the record as it is.
      expect(await store().updateImage(image.backupId, () => undefined)).toEqual({ ...image, expiresAt: later });
      expect(await store().updateImage('client1_1000000000', (i) => i)).toBeUndefined();
      expect((await store().listImages({ client: 'client1' })).map((i) => i.expiresAt)).toEqual([later]);
    });

    it('refuses a change of what identifies an image, or an invalid record, and keeps the image', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      await expect(store().updateImage(image.backupId, (i) => ({ ...i, client: 'client2' }))).rejects.toBeInstanceOf(ValidationError);
      await expect(store().updateImage(image.backupId, (i) => ({ ...i, jobId: 99 }))).rejects.toThrow(/jobId: 1 cannot become 99/);
      await expect(store().updateImage(image.backupId, (i) => ({ ...i, expiresAt: 'tomorrow' }))).rejects.toBeInstanceOf(ValidationError);
      expect(await store().getImage(image.backupId)).toEqual(image);
    });

    it('applies racing changes one after the other, losing neither', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      await Promise.all([
        store().updateImage(image.backupId, (i) => ({ ...i, fileCount: i.fileCount + 1 })),
        store().updateImage(image.backupId, (i) => ({ ...i, state: 'EXPIRED' })),
      ]);
      expect(await store().getImage(image.backupId)).toMatchObject({ fileCount: image.fileCount + 1, state: 'EXPIRED' });
    });

    it('removes only an EXPIRED record, once', async () => {
      const image = sampleImage('client1', t(1));
      const other = sampleImage('client1', t(2));
      await claimAndCommit(store(), image);
      await claimAndCommit(store(), other);
      await expect(store().removeExpiredImage(image.backupId)).rejects.toBeInstanceOf(ConflictError);
      expect(await store().getImage(image.backupId)).toEqual(image);
      await store().updateImage(image.backupId, (i) => ({ ...i, state: 'EXPIRED' }));
      expect(await store().removeExpiredImage(image.backupId)).toBe(true);
      expect(await store().removeExpiredImage(image.backupId)).toBe(false);
      expect(await store().getImage(image.backupId)).toBeUndefined();
      expect((await store().listImages()).map((i) => i.backupId)).toEqual([other.backupId]);
    });
  });
}
