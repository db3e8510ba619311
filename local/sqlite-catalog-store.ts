import { isDeepStrictEqual } from 'node:util';
import type { CatalogStore, ImageQuery } from '#core/ports/catalog-store.ts';
import { primaryCopy, type Image, type ImageClaim } from '#core/model/image.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { assertBackupIdOf, checkedImageChange, differentImage, notExpired, uncataloguable } from '#core/catalog/catalog-refusals.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/**
 * CatalogStore on SQLite. A backup id lives in `image_claims` while its
 * image is staged and in `images` once committed; every step that moves it
 * between the two, or checks both, is one transaction, so a backup id is in
 * at most one of them and held by at most one job. Rows hold the current
 * image record version: older ones are migrated when the database opens.
 */
export class SqliteCatalogStore implements CatalogStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async claimBackupId(claim: ImageClaim): Promise<boolean> {
    assertBackupIdOf(claim.backupId, claim.client);
    return this.#db
      .transaction((): boolean => {
        if (this.#db.prepare('SELECT 1 FROM images WHERE backup_id = ?').get(claim.backupId)) return false;
        this.#db.prepare('INSERT INTO image_claims (backup_id, job_id, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(claim.backupId, claim.jobId, JSON.stringify(claim));
        return this.#claimHolder(claim.backupId) === claim.jobId;
      })
      .immediate();
  }

  async listClaims(): Promise<ImageClaim[]> {
    const rows = this.#db.prepare('SELECT value FROM image_claims').all() as { value: string }[];
    return rows.map((r) => JSON.parse(r.value) as ImageClaim).sort((a, b) => byCodePoint(a.claimedAt, b.claimedAt) || byCodePoint(a.backupId, b.backupId));
  }

  async dropClaim(backupId: string, jobId: number): Promise<boolean> {
    return this.#db.prepare('DELETE FROM image_claims WHERE backup_id = ? AND job_id = ?').run(backupId, jobId).changes > 0;
  }

  async putImage(image: Image): Promise<void> {
    assertBackupIdOf(image.backupId, image.client);
    this.#db
      .transaction(() => {
        const existing = this.#image(image.backupId);
        if (existing !== undefined) {
          // The same record is a retried Catalog step; its claim went with the first commit.
          if (isDeepStrictEqual(existing, image)) return;
          throw differentImage(image.backupId);
        }
        const holder = this.#claimHolder(image.backupId);
        if (holder !== image.jobId) throw uncataloguable(image, holder);
        this.#db.prepare('INSERT INTO images (backup_id, client, policy, created_at, value) VALUES (?, ?, ?, ?, ?)').run(image.backupId, image.client, image.policy, image.createdAt, JSON.stringify(image));
        this.#db.prepare('DELETE FROM image_claims WHERE backup_id = ?').run(image.backupId);
      })
      .immediate();
  }

  async withdrawImage(backupId: string, at: Date): Promise<boolean> {
    return this.#db
      .transaction((): boolean => {
        const image = this.#image(backupId);
        if (image === undefined) return false;
        // The claim owns the data the job wrote: its primary copy.
        const claim: ImageClaim = { backupId, jobId: image.jobId, client: image.client, storageUnit: primaryCopy(image).storageUnit, claimedAt: at.toISOString() };
        this.#db.prepare('DELETE FROM images WHERE backup_id = ?').run(backupId);
        this.#db.prepare('INSERT INTO image_claims (backup_id, job_id, value) VALUES (?, ?, ?)').run(backupId, image.jobId, JSON.stringify(claim));
        return true;
      })
      .immediate();
  }

  async getImage(backupId: string): Promise<Image | undefined> {
    return this.#image(backupId);
  }

  async updateImage(backupId: string, change: (image: Image) => Image | undefined): Promise<Image | undefined> {
    // One IMMEDIATE transaction reads and writes the row: no other writer comes between.
    return this.#db
      .transaction((): Image | undefined => {
        const image = this.#image(backupId);
        if (image === undefined) return undefined;
        const changed = change(image);
        if (changed === undefined || isDeepStrictEqual(changed, image)) return image;
        const next = checkedImageChange(image, changed);
        this.#db.prepare('UPDATE images SET value = ? WHERE backup_id = ?').run(JSON.stringify(next), backupId);
        return next;
      })
      .immediate();
  }

  async removeExpiredImage(backupId: string): Promise<boolean> {
    return this.#db
      .transaction((): boolean => {
        const image = this.#image(backupId);
        if (image === undefined) return false;
        if (image.state !== 'EXPIRED') throw notExpired(image);
        return this.#db.prepare('DELETE FROM images WHERE backup_id = ?').run(backupId).changes > 0;
      })
      .immediate();
  }

  async listImages(query: ImageQuery = {}): Promise<Image[]> {
    // created_at is ISO-8601 UTC, so text order is time order.
    const conditions: [string, string | undefined][] = [
      ['client = ?', query.client],
      ['policy = ?', query.policy],
      ['created_at >= ?', query.from?.toISOString()],
      ['created_at <= ?', query.to?.toISOString()],
    ];
    const used = conditions.filter((c): c is [string, string] => c[1] !== undefined);
    const where = used.map(([sql]) => sql);
    const args = used.map(([, value]) => value);
    const sql = `SELECT value FROM images ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, backup_id DESC`;
    return (this.#db.prepare(sql).all(...args) as { value: string }[]).map((r) => JSON.parse(r.value) as Image);
  }

  #image(backupId: string): Image | undefined {
    const row = this.#db.prepare('SELECT value FROM images WHERE backup_id = ?').get(backupId) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as Image) : undefined;
  }

  #claimHolder(backupId: string): number | undefined {
    return (this.#db.prepare('SELECT job_id FROM image_claims WHERE backup_id = ?').get(backupId) as { job_id: number } | undefined)?.job_id;
  }
}
