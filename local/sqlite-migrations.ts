import { CairnError } from '#core/errors.ts';
import { IMAGE_RECORD_VERSION, upgradeImageRecord } from '#core/catalog/image-versions.ts';
import { StatusCode } from '#core/status-codes.ts';
import type Database from 'better-sqlite3';

/** The standalone database (sqlite-database.ts's SqliteDatabase; named here so the two files do not import each other). */
type SqliteDatabase = Database.Database;

/**
 * The version of the data in a standalone database, in `PRAGMA
 * user_version`. 0 is a database of the code before versions were recorded
 * (its image rows are image record version 1); a fresh database is
 * migrated from 0 too, over no rows.
 */
export const SCHEMA_VERSION = IMAGE_RECORD_VERSION;

/** Steps from version N-1 to N, by N. */
const MIGRATIONS: Record<number, (db: SqliteDatabase) => void> = {
  // Images get copies (catalog record version 2).
  2: (db) => {
    const rows = db.prepare('SELECT backup_id, value FROM images').all() as { backup_id: string; value: string }[];
    const update = db.prepare('UPDATE images SET value = ? WHERE backup_id = ?');
    for (const row of rows) update.run(JSON.stringify(upgradeImageRecord(JSON.parse(row.value), 1)), row.backup_id);
  },
};

/**
 * Brings the database to SCHEMA_VERSION in one immediate transaction, so a
 * CLI and a running `cairn local serve` opening an old file together migrate
 * it once and neither sees it half done. A failed step changes nothing. A
 * database newer than this code is refused rather than misread.
 */
export function migrate(db: SqliteDatabase): void {
  const versionOf = (): number => db.pragma('user_version', { simple: true }) as number;
  if (versionOf() === SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = Math.max(versionOf(), 1);
    if (from > SCHEMA_VERSION) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `the standalone database has schema version ${from}, newer than this Cairn knows (${SCHEMA_VERSION}): upgrade Cairn`);
    }
    for (let version = from + 1; version <= SCHEMA_VERSION; version++) MIGRATIONS[version]!(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
