import { expect, it } from 'vitest';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { Image } from '#core/model/image.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { recordTapeWrites } from '#core/catalog/tape-writes.ts';
import { frozen, unfrozen } from '#core/media/media-changes.ts';
import { type OpenStore, describeContract, sampleImage } from './fixtures.ts';

const at = new Date('2026-11-01T02:00:00Z');

/** An image with fragments 1-2 on V00001 (tape files 1, 2) and 3 on V00002 (tape file 1). */
function spanningImage(): Image {
  const image = sampleImage('host1', at, { storageUnit: 'tape1' });
  const tape = (number: number, mediaId: string, fileNumber: number) => ({ number, bytes: 1000 * number, sha256: 'a'.repeat(64), location: { kind: 'tape' as const, mediaId, fileNumber, blockOffset: 2 } });
  return { ...image, copies: [{ ...image.copies[0]!, fragments: [tape(1, 'V00001', 1), tape(2, 'V00001', 2), tape(3, 'V00002', 1)] }] };
}

/**
 * The Catalog step's media-manager update (core/catalog/tape-writes.ts) on
 * an adapter of the MediaDatabase port: the image's writes per volume, and
 * the volume the agent found past early warning turned FULL in the same
 * update.
 */
export function describeTapeWritesContract(adapter: string, open: OpenStore<MediaDatabase>, skipReason?: string): void {
  describeContract('MediaDatabase (tape writes)', adapter, open, skipReason, (store) => {
    async function volumes(): Promise<void> {
      // V00001 holds its label (tape file 0), as a Mount left it; V00002 too.
      await store().addMedia({ ...newMedia('V00001', at), tapeFiles: 1 });
      await store().addMedia({ ...newMedia('V00002', at), tapeFiles: 1 });
    }

    it('records each volume the image wrote on; without a full volume every one stays ACTIVE', async () => {
      await volumes();
      const image = spanningImage();
      await recordTapeWrites(store(), image, 14, at);
      expect(await store().getMedia('V00001')).toMatchObject({ state: 'ACTIVE', bytesWritten: 3000, tapeFiles: 3, images: [image.backupId], retentionDays: 14 });
      expect(await store().getMedia('V00002')).toMatchObject({ state: 'ACTIVE', bytesWritten: 3000, tapeFiles: 2, images: [image.backupId] });
    });

    it('turns the volume past early warning FULL with its writes, once, also on a retried step; the others stay ACTIVE', async () => {
      await volumes();
      const image = spanningImage();
      await recordTapeWrites(store(), image, 14, at, 'V00002');
      const full = await store().getMedia('V00002');
      expect(full).toMatchObject({ state: 'FULL', bytesWritten: 3000, tapeFiles: 2, images: [image.backupId] });
      expect((await store().getMedia('V00001'))?.state).toBe('ACTIVE');
      // A retried Catalog step counts nothing twice and leaves it FULL.
      await recordTapeWrites(store(), image, 14, at, 'V00002');
      expect(await store().getMedia('V00002')).toMatchObject({ state: 'FULL', bytesWritten: 3000, tapeFiles: 2, images: [image.backupId] });
    });

    it('marks FULL on a retried step whose first attempt counted the writes without it (an older agent, then a newer report)', async () => {
      await volumes();
      const image = spanningImage();
      await recordTapeWrites(store(), image, 14, at);
      await recordTapeWrites(store(), image, 14, at, 'V00002');
      expect(await store().getMedia('V00002')).toMatchObject({ state: 'FULL', bytesWritten: 3000, tapeFiles: 2 });
    });

    it('keeps a FROZEN volume FROZEN, to return to FULL when unfrozen', async () => {
      await volumes();
      await store().updateMedia('V00002', frozen);
      const image = spanningImage();
      await recordTapeWrites(store(), image, 14, at, 'V00002');
      const held = await store().getMedia('V00002');
      expect(held).toMatchObject({ state: 'FROZEN', heldFrom: 'FULL', bytesWritten: 3000, images: [image.backupId] });
      expect((await store().updateMedia('V00002', unfrozen)).state).toBe('FULL');
    });

    it('turns FULL a volume past early warning that holds none of the image (nothing written on it), counting nothing', async () => {
      await volumes();
      await store().addMedia({ ...newMedia('V00003', at), state: 'ACTIVE', tapeFiles: 4, bytesWritten: 7000 });
      await recordTapeWrites(store(), spanningImage(), 14, at, 'V00003');
      expect(await store().getMedia('V00003')).toMatchObject({ state: 'FULL', tapeFiles: 4, bytesWritten: 7000, images: [] });
    });
  });
}
