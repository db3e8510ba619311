import { describe, expect, it } from 'vitest';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import { describeCatalogCopiesContract } from './catalog-copies-contract.ts';
import { describeCatalogExpiryContract } from './catalog-expiry-contract.ts';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type OpenStore, claimAndCommit, claimOf, sampleImage, describeContract } from './fixtures.ts';

export function describeCatalogStoreContract(adapter: string, open: OpenStore<CatalogStore>, skipReason?: string): void {
  describeCatalogCopiesContract(adapter, open, skipReason);
  describeCatalogExpiryContract(adapter, open, skipReason);
  describeContract('CatalogStore', adapter, open, skipReason, (store) => {

    const t = (day: number): Date => new Date(Date.UTC(2026, 10, day, 1, 0, 0));

    it('returns an image exactly as it was committed', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      expect(await store().getImage(image.backupId)).toEqual(image);
      expect(await store().getImage('client1_0000000001')).toBeUndefined();
    });

    it('accepts the same image twice (a retried catalog step) but not a different one under its id', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      await store().putImage(image);
      await expect(store().putImage({ ...image, fileCount: 999 })).rejects.toBeInstanceOf(ConflictError);
      expect((await store().getImage(image.backupId))?.fileCount).toBe(image.fileCount);
    });

    it('lists images newest first, by client, policy and time range', async () => {
      await claimAndCommit(store(), sampleImage('client1', t(1)));
      await claimAndCommit(store(), sampleImage('client1', t(3), { policy: 'other' }));
      await claimAndCommit(store(), sampleImage('client2', t(2)));
      await claimAndCommit(store(), sampleImage('client1', t(5)));
      await store().claimBackupId(claimOf(sampleImage('client1', t(4))));
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

    it('keeps the selections an image covers, and a stream image its parent\'s streams, through commit, get and list', async () => {
      // Prepare: a stream's image, a whole policy's image, and one catalogued before selections were recorded.
      const stream = sampleImage('client1', t(1), { policy: 'streams', selections: ['/srv/b'], streams: ['/srv/a', '/srv/b', '/srv/c'] });
      const whole = sampleImage('client1', t(2), { selections: ['/home', '/etc'] });
      const older = sampleImage('client1', t(3));
      // Act
      for (const image of [stream, whole, older]) await claimAndCommit(store(), image);
      // Assess
      expect(await store().getImage(stream.backupId)).toEqual(stream);
      expect(await store().getImage(whole.backupId)).toEqual(whole);
      const listed = await store().listImages({ client: 'client1' });
      expect(listed.map((i) => [i.selections, i.streams])).toEqual([[undefined, undefined], [['/home', '/etc'], undefined], [['/srv/b'], ['/srv/a', '/srv/b', '/srv/c']]]);
      expect(listed[0]).not.toHaveProperty('selections');
      expect(await store().listImages({ client: 'client1', policy: 'streams' })).toEqual([stream]);
      // A retried Catalog step is the identical record; other selections under the id are another image.
      await store().putImage(stream);
      await expect(store().putImage({ ...stream, selections: ['/srv/a'] })).rejects.toBeInstanceOf(ConflictError);
    });

    it('gives a backup id to one job only, however many claim it at once', async () => {
      const image = sampleImage('client1', t(1));
      const outcomes = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((jobId) => store().claimBackupId(claimOf(image, jobId))));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const winner = outcomes.indexOf(true) + 1;
      expect(await store().claimBackupId(claimOf(image, winner))).toBe(true);
      expect(await store().claimBackupId(claimOf(image, winner === 1 ? 2 : 1))).toBe(false);
      expect(await store().listClaims()).toEqual([claimOf(image, winner)]);
    });

    it('never gives out the backup id of a catalogued image', async () => {
      const image = sampleImage('client1', t(1));
      await claimAndCommit(store(), image);
      expect(await store().listClaims()).toEqual([]);
      expect(await store().claimBackupId(claimOf(image, 99))).toBe(false);
      expect(await store().claimBackupId(claimOf(image))).toBe(false);
    });

    it('commits an image only for the job that holds its claim', async () => {
      const image = sampleImage('client1', t(1), { jobId: 7 });
      await expect(store().putImage(image)).rejects.toBeInstanceOf(ConflictError);
      await store().claimBackupId(claimOf(image, 8));
      await expect(store().putImage(image)).rejects.toThrow(/job 8 holds its backup id/);
      expect(await store().getImage(image.backupId)).toBeUndefined();
      expect(await store().dropClaim(image.backupId, 7)).toBe(false);
      expect(await store().dropClaim(image.backupId, 8)).toBe(true);
      expect(await store().dropClaim(image.backupId, 8)).toBe(false);
      await expect(store().putImage(image)).rejects.toThrow(/holds no claim/);
      expect(await store().listClaims()).toEqual([]);
    });

    it('lists claims oldest first', async () => {
      const later = sampleImage('client2', t(3));
      const earlier = sampleImage('client1', t(2));
      await store().claimBackupId(claimOf(later, 2));
      await store().claimBackupId(claimOf(earlier, 1));
      expect(await store().listClaims()).toEqual([claimOf(earlier, 1), claimOf(later, 2)]);
    });

    it('withdraws a catalogued image back into a claim of its job', async () => {
      const image = sampleImage('client1', t(1), { jobId: 5 });
      await claimAndCommit(store(), image);
      expect(await store().withdrawImage(image.backupId, t(2))).toBe(true);
      expect(await store().getImage(image.backupId)).toBeUndefined();
      expect(await store().listImages()).toEqual([]);
      expect(await store().listClaims()).toEqual([{ ...claimOf(image), claimedAt: t(2).toISOString() }]);
      expect(await store().withdrawImage(image.backupId, t(3))).toBe(false);
      expect(await store().claimBackupId(claimOf(image, 6))).toBe(false);
      expect(await store().dropClaim(image.backupId, 5)).toBe(true);
    });

    describe('where adapters used to disagree', () => {
      it("refuses a claim or an image whose backup id is another client's, and writes nothing", async () => {
        const image = sampleImage('client1', t(1), { jobId: 3 });
        const foreign = { ...image, client: 'client2' };
        await expect(store().claimBackupId(claimOf(foreign))).rejects.toThrow(/does not belong to client client2/);
        await expect(store().claimBackupId(claimOf(foreign))).rejects.toBeInstanceOf(ValidationError);
        expect(await store().listClaims()).toEqual([]);
        await store().claimBackupId(claimOf(image));
        await expect(store().putImage(foreign)).rejects.toBeInstanceOf(ValidationError);
        await expect(store().putImage({ ...image, backupId: 'not-a-backup-id' })).rejects.toBeInstanceOf(ValidationError);
        expect(await store().listImages()).toEqual([]);
        expect(await store().listClaims()).toEqual([claimOf(image)]);
      });

      it('tells a lost claim (retryable as a new attempt) from a claim another job holds (not retryable)', async () => {
        const image = sampleImage('client1', t(1), { jobId: 7 });
        const lost = await store().putImage(image).catch((e: unknown) => e);
        expect(lost).toMatchObject({ statusCode: StatusCode.JOB_ORPHANED, retryable: true });
        await store().claimBackupId(claimOf(image, 8));
        const taken = await store().putImage(image).catch((e: unknown) => e);
        expect(taken).toMatchObject({ statusCode: StatusCode.CONFLICT, retryable: false });
      });
    });
  });
}
