import { expect, it } from 'vitest';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Image, ImageCopy } from '#core/model/image.ts';
import { ConflictError } from '#core/errors.ts';
import { type OpenStore, claimAndCommit, sampleImage, describeContract } from './fixtures.ts';

/** Images with several copies, and fragments by location: object keys and tape positions. */
export function describeCatalogCopiesContract(adapter: string, open: OpenStore<CatalogStore>, skipReason?: string): void {
  describeContract('CatalogStore copies and locations', adapter, open, skipReason, (store) => {
    const at = new Date(Date.UTC(2026, 10, 1, 1, 0, 0));
    const twoCopies = (): Image => {
      const image = sampleImage('client1', at, { storageUnit: 'disk1' });
      const primary = image.copies[0]!;
      const onTape: ImageCopy = {
        copyNumber: 2,
        storageUnit: 'tld0',
        fragments: [
          { number: 1, bytes: 6000, sha256: 'c'.repeat(64), location: { kind: 'tape', mediaId: 'A00001', fileNumber: 7, blockOffset: 0 } },
          { number: 2, bytes: 4240, sha256: 'd'.repeat(64), location: { kind: 'tape', mediaId: 'A00002', fileNumber: 1, blockOffset: 0 } },
        ],
        indexKey: `${primary.indexKey}.copy2`,
        indexSha256: 'e'.repeat(64),
        manifestKey: `${primary.manifestKey}.copy2`,
      };
      return { ...image, copies: [primary, onTape] };
    };

    it('keeps every copy with its storage unit and every fragment with its location, listed and got alike', async () => {
      const image = twoCopies();
      await claimAndCommit(store(), image);
      expect(await store().getImage(image.backupId)).toEqual(image);
      expect(await store().listImages({ client: 'client1' })).toEqual([image]);
      expect(await store().listImages()).toEqual([image]);
    });

    it('takes a record that differs only in one copy\'s fragment location for a different image', async () => {
      const image = twoCopies();
      await claimAndCommit(store(), image);
      const moved = structuredClone(image);
      moved.copies[1]!.fragments[1]!.location = { kind: 'tape', mediaId: 'A00003', fileNumber: 1, blockOffset: 0 };
      await expect(store().putImage(moved)).rejects.toBeInstanceOf(ConflictError);
      await store().putImage(structuredClone(image));
      expect(await store().getImage(image.backupId)).toEqual(image);
    });

    it('keeps a compressed fragment\'s encoding', async () => {
      const image = sampleImage('client1', at, { storageUnit: 'disk1' });
      const primary = image.copies[0]!;
      const compressed: Image = { ...image, copies: [{ ...primary, fragments: primary.fragments.map((f) => ({ ...f, encoding: { codec: 'zstd-seekable' as const, tarBytes: 20480, frameBytes: 262144 } })) }] };
      await claimAndCommit(store(), compressed);
      expect(await store().getImage(image.backupId)).toEqual(compressed);
      expect(await store().listImages({ client: 'client1' })).toEqual([compressed]);
    });

    it('withdraws an image into a claim on the storage unit of its primary copy', async () => {
      const image = twoCopies();
      await claimAndCommit(store(), image);
      expect(await store().withdrawImage(image.backupId, at)).toBe(true);
      expect(await store().listClaims()).toEqual([{ backupId: image.backupId, jobId: image.jobId, client: 'client1', storageUnit: 'disk1', claimedAt: at.toISOString() }]);
    });
  });
}
