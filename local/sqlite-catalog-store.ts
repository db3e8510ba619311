import { isDeepStrictEqual } from 'node:util';
import type { CatalogStore, ImageQuery } from '#core/ports/catalog-store.ts';
import type { Image } from '#core/model/image.ts';
import { ConflictError } from '#core/errors.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

export class SqliteCatalogStore implements CatalogStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async putImage(image: Image): Promise<void> {
    const inserted = this.#db
      .prepare('INSERT INTO images (backup_id, client, policy, created_at, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(image.backupId, image.client, image.policy, image.createdAt, JSON.stringify(image));
    if (inserted.changes > 0) return;
    const existing = await this.getImage(image.backupId);
    if (!isDeepStrictEqual(existing, image)) throw new ConflictError(`a different image ${image.backupId} is in the catalog already`);
  }

  async getImage(backupId: string): Promise<Image | undefined> {
    const row = this.#db.prepare('SELECT value FROM images WHERE backup_id = ?').get(backupId) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as Image) : undefined;
  }

  async listImages(query: ImageQuery = {}): Promise<Image[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (query.client) (where.push('client = ?'), args.push(query.client));
    if (query.policy) (where.push('policy = ?'), args.push(query.policy));
    // created_at is ISO-8601 UTC, so text order is time order.
    if (query.from) (where.push('created_at >= ?'), args.push(query.from.toISOString()));
    if (query.to) (where.push('created_at <= ?'), args.push(query.to.toISOString()));
    const sql = `SELECT value FROM images ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, backup_id DESC`;
    return (this.#db.prepare(sql).all(...args) as { value: string }[]).map((r) => JSON.parse(r.value) as Image);
  }
}
