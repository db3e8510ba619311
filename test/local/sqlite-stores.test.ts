import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '#local/sqlite-database.ts';
import { SqliteConfigStore } from '#local/sqlite-config-store.ts';
import { SqliteJobStore } from '#local/sqlite-job-store.ts';
import { SqliteCatalogStore } from '#local/sqlite-catalog-store.ts';
import { SqliteMediaStore } from '#local/sqlite-media-store.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { describeConfigStoreContract } from '../contracts/config-store-contract.ts';
import { describeJobStoreContract } from '../contracts/job-store-contract.ts';
import { describeCatalogStoreContract } from '../contracts/catalog-store-contract.ts';
import { describeMediaStoreContract } from '../contracts/media-store-contract.ts';
import { describeMediaManagerContract } from '../contracts/media-manager-contract.ts';
import { describeTapeWritesContract } from '../contracts/tape-writes-contract.ts';
import type { SqliteDatabase } from '#local/sqlite-database.ts';
import { asKind } from '#core/model/job.ts';
import { legacyBackupJobJson } from '../contracts/legacy-records.ts';

/** A fresh database file per test: the real file, WAL and all, not :memory:. */
function opener<T>(make: (db: SqliteDatabase) => T) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-sqlite-'));
    const db = openSqliteDatabase(join(dir, 'cairn.db'));
    return {
      store: make(db),
      cleanup: async () => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

describeConfigStoreContract('SQLite', opener((db) => new SqliteConfigStore(db)));
describeJobStoreContract('SQLite', opener((db) => new SqliteJobStore(db)));
describeCatalogStoreContract('SQLite', opener((db) => new SqliteCatalogStore(db)));
describeMediaStoreContract('SQLite', opener((db) => new SqliteMediaStore(db)));
describeMediaManagerContract('SQLite', opener((db) => sqliteMediaDatabase(db)));
describeTapeWritesContract('SQLite', opener((db) => sqliteMediaDatabase(db)));

describe('SQLite stores on a database written before job kinds and resource requests', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-sqlite-legacy-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads an old backup job record back as a backup job, and updates it', async () => {
    // Prepare
    const db = openSqliteDatabase(join(dir, 'cairn.db'));
    db.prepare('INSERT INTO jobs (job_id, state, value) VALUES (5, ?, ?)').run('DONE', legacyBackupJobJson);
    const jobs = new SqliteJobStore(db);
    // Act
    const job = await jobs.get(5);
    const listed = await jobs.list();
    const updated = await jobs.update(5, (j) => ({ ...j, updatedAt: '2026-11-02T00:00:00.000Z' }));
    // Assess
    expect(job).toEqual(JSON.parse(legacyBackupJobJson));
    expect(listed).toEqual([job]);
    expect(asKind(updated, 'backup')).toMatchObject({ backupId: 'client1_1793498400', unreadable: [expect.stringMatching(/locked/)], updatedAt: '2026-11-02T00:00:00.000Z' });
    db.close();
  });

  it('keeps a slot held in the old one-slot-per-job table, so the job in flight can release it', async () => {
    // Prepare: the old schema, with job 7 holding the only slot of disk1
    const file = join(dir, 'cairn.db');
    const old = new Database(file);
    old.exec('CREATE TABLE reservations (job_id INTEGER PRIMARY KEY, storage_unit TEXT NOT NULL, reserved_at TEXT NOT NULL)');
    old.prepare('INSERT INTO reservations VALUES (7, ?, ?)').run('disk1', '2026-11-01T02:00:00.000Z');
    old.close();
    // Act
    const db = openSqliteDatabase(file);
    const media = new SqliteMediaStore(db);
    const slot = { kind: 'storage-unit-slot' as const, storageUnit: 'disk1', maxConcurrentJobs: 1 };
    // Assess
    expect(await media.listReservations()).toEqual([{ jobId: 7, kind: 'storage-unit-slot', storageUnit: 'disk1', reservedAt: '2026-11-01T02:00:00.000Z' }]);
    expect((await media.reserve({ jobId: 8, resources: [slot], at: new Date() })).granted).toBe(false);
    expect((await media.reserve({ jobId: 7, resources: [slot], at: new Date() })).granted).toBe(true);
    expect(await media.release(7)).toBe(true);
    expect((await media.reserve({ jobId: 8, resources: [slot], at: new Date() })).granted).toBe(true);
    db.close();
  });
});
