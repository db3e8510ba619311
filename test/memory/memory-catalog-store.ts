import { isDeepStrictEqual } from 'node:util';
import { assertBackupIdOf, checkedImageChange, differentImage, notExpired, uncataloguable } from '#core/catalog/catalog-refusals.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { primaryCopy, type Image, type ImageClaim } from '#core/model/image.ts';
import type { CatalogStore, ImageQuery } from '#core/ports/catalog-store.ts';
import { io, stored } from './copy.ts';

/**
 * CatalogStore in memory, for tests and benchmarks only (see README.md). A
 * backup id is a key of `#claims` or of `#images`, never both: every method
 * checks and moves it in one synchronous step.
 */
export class MemoryCatalogStore implements CatalogStore {
  readonly #claims = new Map<string, ImageClaim>();
  readonly #images = new Map<string, Image>();

  async claimBackupId(claim: ImageClaim): Promise<boolean> {
    assertBackupIdOf(claim.backupId, claim.client);
    await io();
    if (this.#images.has(claim.backupId)) return false;
    const held = this.#claims.get(claim.backupId);
    if (held !== undefined) return held.jobId === claim.jobId;
    this.#claims.set(claim.backupId, stored(claim));
    return true;
  }

  async listClaims(): Promise<ImageClaim[]> {
    await io();
    return [...this.#claims.values()].sort((a, b) => byCodePoint(a.claimedAt, b.claimedAt) || byCodePoint(a.backupId, b.backupId)).map(stored);
  }

  async dropClaim(backupId: string, jobId: number): Promise<boolean> {
    await io();
    if (this.#claims.get(backupId)?.jobId !== jobId) return false;
    return this.#claims.delete(backupId);
  }

  async putImage(image: Image): Promise<void> {
    assertBackupIdOf(image.backupId, image.client);
    await io();
    const record = stored(image);
    const existing = this.#images.get(image.backupId);
    if (existing !== undefined) {
      // The same record is a retried Catalog step; its claim went with the first commit.
      if (isDeepStrictEqual(existing, record)) return;
      throw differentImage(image.backupId);
    }
    const holder = this.#claims.get(image.backupId)?.jobId;
    if (holder !== image.jobId) throw uncataloguable(image, holder);
    this.#claims.delete(image.backupId);
    this.#images.set(image.backupId, record);
  }

  async withdrawImage(backupId: string, at: Date): Promise<boolean> {
    await io();
    const image = this.#images.get(backupId);
    if (image === undefined) return false;
    this.#images.delete(backupId);
    this.#claims.set(backupId, { backupId, jobId: image.jobId, client: image.client, storageUnit: primaryCopy(image).storageUnit, claimedAt: at.toISOString() });
    return true;
  }

  async getImage(backupId: string): Promise<Image | undefined> {
    await io();
    const image = this.#images.get(backupId);
    return image === undefined ? undefined : stored(image);
  }

  async updateImage(backupId: string, change: (image: Image) => Image | undefined): Promise<Image | undefined> {
    await io();
    const image = this.#images.get(backupId);
    if (image === undefined) return undefined;
    const changed = change(stored(image));
    if (changed === undefined || isDeepStrictEqual(changed, image)) return stored(image);
    const next = stored(checkedImageChange(image, changed));
    this.#images.set(backupId, next);
    return stored(next);
  }

  async removeExpiredImage(backupId: string): Promise<boolean> {
    await io();
    const image = this.#images.get(backupId);
    if (image === undefined) return false;
    if (image.state !== 'EXPIRED') throw notExpired(image);
    return this.#images.delete(backupId);
  }

  async listImages(query: ImageQuery = {}): Promise<Image[]> {
    await io();
    const from = query.from?.getTime() ?? -Infinity;
    const to = query.to?.getTime() ?? Infinity;
    return [...this.#images.values()]
      .filter((i) => (query.client === undefined || i.client === query.client) && (query.policy === undefined || i.policy === query.policy))
      .filter((i) => Date.parse(i.createdAt) >= from && Date.parse(i.createdAt) <= to)
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || byCodePoint(b.backupId, a.backupId))
      .map(stored);
  }
}
