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
CREATE TABLE IF NOT EXISTS held_resources (job_id INTEGER NOT NULL, resource TEXT NOT NULL, kind TEXT NOT NULL, storage_unit TEXT, value TEXT NOT NULL, reserved_at TEXT NOT NULL, PRIMARY KEY (job_id, resource));
CREATE INDEX IF NOT EXISTS held_resources_by_unit ON held_resources (kind, storage_unit);
-- Slots held in the one-slot-per-job table of earlier versions move over, so a job in flight during an upgrade keeps its slot.
INSERT OR IGNORE INTO held_resources (job_id, resource, kind, storage_unit, value, reserved_at)
  SELECT job_id, 'storage-unit-slot:' || storage_unit, 'storage-unit-slot', storage_unit, json_object('kind', 'storage-unit-slot', 'storageUnit', storage_unit), reserved_at FROM reservations;
DELETE FROM reservations;
`;

/**
 * Issue 7 (one tick): the execution names the standalone ExecutionStarter has
 * claimed (local/local-execution-starter.ts). The primary key is the claim: a
 * second start of a name, from this process or another, finds it taken and
 * answers 'already-started', as Step Functions does. Additive, so a database
 * written before it opens unchanged.
 */
const executionStartsSchema = `
CREATE TABLE IF NOT EXISTS execution_starts (name TEXT PRIMARY KEY, started_at TEXT NOT NULL, input TEXT NOT NULL);
`;

/**
 * Issue 9 (cost per job): the usage a job's workflow recorded (JobStore.recordUsage),
 * one JSON object of counters per job. Additive, like the table above.
 */
const jobUsageSchema = `
CREATE TABLE IF NOT EXISTS job_usage (job_id INTEGER PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * Issue 10 (tape): the media manager's records (robots, drives, volume pools,
 * volumes), one versioned JSON document per row (local/sqlite-media-manager.ts),
 * and the indexes that keep a drive or a volume with one job.
 * Additive like the tables above, so it needs no versioned migration: a
 * database written before it opens unchanged and simply has no tape records.
 */
const emmSchema = `
CREATE TABLE IF NOT EXISTS emm_records (kind TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key));
-- A drive, a volume, is held by one job at a time: the reservation checks it, and the database holds it too.
CREATE UNIQUE INDEX IF NOT EXISTS held_drives ON held_resources (json_extract(value, '$.drive')) WHERE kind = 'drive';
CREATE UNIQUE INDEX IF NOT EXISTS held_volumes ON held_resources (json_extract(value, '$.mediaId')) WHERE kind = 'volume';
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
    db.exec(executionStartsSchema);
    db.exec(jobUsageSchema);
    db.exec(emmSchema);
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
