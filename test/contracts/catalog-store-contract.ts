import { expect, it } from 'vitest';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import { ConflictError } from '#core/errors.ts';
import { type OpenStore, sampleImage, describeContract } from './fixtures.ts';

export function describeCatalogStoreContract(adapter: string, open: OpenStore<CatalogStore>, skipReason?: string): void {
  describeContract('CatalogStore', adapter, open, skipReason, (store) => {

    const t = (day: number): Date => new Date(Date.UTC(2026, 10, day, 1, 0, 0));

    it('returns an image exactly as it was put', async () => {
      const image = sampleImage('client1', t(1));
      await store().putImage(image);
      expect(await store().getImage(image.backupId)).toEqual(image);
      expect(await store().getImage('client1_0000000001')).toBeUndefined();
    });

    it('accepts the same image twice (a retried catalog step) but not a different one under its id', async () => {
      const image = sampleImage('client1', t(1));
      await store().putImage(image);
      await store().putImage(image);
      await expect(store().putImage({ ...image, fileCount: 999 })).rejects.toBeInstanceOf(ConflictError);
      expect((await store().getImage(image.backupId))?.fileCount).toBe(image.fileCount);
    });

    it('lists images newest first, by client, policy and time range', async () => {
      await store().putImage(sampleImage('client1', t(1)));
      await store().putImage(sampleImage('client1', t(3), { policy: 'other' }));
      await store().putImage(sampleImage('client2', t(2)));
      await store().putImage(sampleImage('client1', t(5)));
      const ids = (images: { backupId: string }[]): string[] => images.map((i) => i.backupId);
      expect(ids(await store().listImages())).toEqual([
        sampleImage('client1', t(5)).backupId,
        sampleImage('client1', t(3)).backupId,
        sampleImage('client2', t(2)).backupId,
        sampleImage('client1', t(1)).backupId,
      ]);
      expect(ids(await store().listImages({ client: 'client2' }))).toEqual([sampleImage('client2', t(2)).backupId]);
      expect(ids(await store().listImages({ client: 'client1', policy: 'other' }))).toEqual([sampleImage('client1', t(3)).backupId]);
      expect(ids(await store().listImages({ from: t(2), to: t(3) }))).toEqual([sampleImage('client1', t(3)).backupId, sampleImage('client2', t(2)).backupId]);
    });
  });
}
