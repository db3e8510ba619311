import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '#local/sqlite-database.ts';
import { SqliteConfigStore } from '#local/sqlite-config-store.ts';
import { SqliteJobStore } from '#local/sqlite-job-store.ts';
import { SqliteCatalogStore } from '#local/sqlite-catalog-store.ts';
import { SqliteMediaStore } from '#local/sqlite-media-store.ts';
import { describeConfigStoreContract } from '../contracts/config-store-contract.ts';
import { describeJobStoreContract } from '../contracts/job-store-contract.ts';
import { describeCatalogStoreContract } from '../contracts/catalog-store-contract.ts';
import { describeMediaStoreContract } from '../contracts/media-store-contract.ts';
import type { SqliteDatabase } from '#local/sqlite-database.ts';

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
