import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Clock } from '#core/ports/clock.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { localOwner } from './orphans.ts';
import { ensurePrivateDirectory, ensurePrivateFile } from './private-files.ts';
import { SqliteConfigStore } from './sqlite-config-store.ts';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { SqliteCatalogStore } from './sqlite-catalog-store.ts';
import { SqliteMediaStore } from './sqlite-media-store.ts';
import { sqliteMediaDatabase } from './sqlite-media-manager.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';

export const DEFAULT_STORAGE_UNIT = 'local-disk';

/** The standalone runtime's stores, all in one SQLite file under CAIRN_HOME. */
export interface LocalRuntime {
  home: string;
  db: SqliteDatabase;
  config: SqliteConfigStore;
  jobs: SqliteJobStore;
  catalog: SqliteCatalogStore;
  media: SqliteMediaStore;
  /** The media manager (EMM): robots, drives, volume pools, volumes. */
  emm: MediaDatabase;
  clock: Clock;
  /** `local:<host>:<pid>:<start time>`: marks the jobs this process runs, for orphan detection. */
  owner: string;
  close(): void;
}

export function resolveCairnHome(explicit?: string): string {
  return resolve(explicit ?? process.env.CAIRN_HOME ?? '.cairn');
}

/**
 * Opens the standalone runtime, creating CAIRN_HOME on first use with one
 * disk storage unit (`local-disk`, under CAIRN_HOME/storage) as the default.
 * The home, the database and the storage directories are owner-only.
 */
export async function openLocalRuntime(options: { home?: string; clock?: Clock } = {}): Promise<LocalRuntime> {
  const home = resolveCairnHome(options.home);
  const dbFile = join(home, 'cairn.db');
  // Owner-only whatever the umask; a home an earlier version made open is closed.
  ensurePrivateDirectory(home, { tighten: () => existsSync(dbFile) });
  ensurePrivateFile(dbFile);
  const db = openSqliteDatabase(dbFile);
  const runtime: LocalRuntime = {
    home,
    db,
    config: new SqliteConfigStore(db),
    jobs: new SqliteJobStore(db),
    catalog: new SqliteCatalogStore(db),
    media: new SqliteMediaStore(db),
    emm: sqliteMediaDatabase(db),
    clock: options.clock ?? systemClock,
    owner: localOwner(),
    close: () => db.close(),
  };
  if ((await runtime.config.listStorageUnits()).length === 0) {
    const path = join(home, 'storage', DEFAULT_STORAGE_UNIT);
    ensurePrivateDirectory(path);
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: DEFAULT_STORAGE_UNIT, kind: 'disk', path }));
    if ((await runtime.config.getSetting('defaultStorageUnit')) === undefined) await runtime.config.putSetting('defaultStorageUnit', DEFAULT_STORAGE_UNIT);
  }
  return runtime;
}
