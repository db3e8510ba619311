import Database from 'better-sqlite3';
import { migrate } from './sqlite-migrations.ts';

export type SqliteDatabase = Database.Database;

const schema = `
CREATE TABLE IF NOT EXISTS config (kind TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (job_id INTEGER PRIMARY KEY, state TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, job_id);
CREATE TABLE IF NOT EXISTS executions (name TEXT PRIMARY KEY, job_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (backup_id TEXT PRIMARY KEY, client TEXT NOT NULL, policy TEXT NOT NULL, created_at TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS images_by_client ON images (client, created_at);
CREATE TABLE IF NOT EXISTS image_claims (backup_id TEXT PRIMARY KEY, job_id INTEGER NOT NULL, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (job_id INTEGER PRIMARY KEY, storage_unit TEXT NOT NULL, reserved_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_by_unit ON reservations (storage_unit);
`;

/**
 * Opens (creating if needed) the standalone runtime's database. WAL and a
 * busy timeout let the CLI and a running `cairn local serve` share the file.
 * A database written by older code is migrated on open (sqlite-migrations.ts).
 */
export function openSqliteDatabase(file: string): SqliteDatabase {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  try {
    db.exec(schema);
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
