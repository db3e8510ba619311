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
}
