import { EmmDatabase } from '#core/media/emm-database.ts';
import { MAX_EMM_WRITES, type EmmRecord, type EmmRecordKind, type EmmRecords, type EmmWrite } from '#core/ports/emm-records.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface Row {
  kind: string;
  key: string;
  version: number;
  value: string;
}
const toRecord = (row: Row): EmmRecord => ({ kind: row.kind as EmmRecordKind, key: row.key, version: row.version, value: JSON.parse(row.value) });

/**
 * EmmRecords on the `emm_records` table: one row per record, `(kind, key)`
 * its primary key, `version` the optimistic-concurrency counter. A commit is
 * one IMMEDIATE transaction (the write lock is taken before the versions are
 * compared), so a commit whose versions held is applied whole and nobody
 * else's write slips in between the check and the write, across processes too.
 */
export class SqliteEmmRecords implements EmmRecords {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async get(kind: EmmRecordKind, key: string): Promise<EmmRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM emm_records WHERE kind = ? AND key = ?').get(kind, key) as Row | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  async list(kind: EmmRecordKind): Promise<EmmRecord[]> {
    // BINARY collation: code point order, as the port asks.
    return (this.#db.prepare('SELECT * FROM emm_records WHERE kind = ? ORDER BY key').all(kind) as Row[]).map(toRecord);
  }

  async commit(writes: readonly EmmWrite[]): Promise<boolean> {
    if (writes.length > MAX_EMM_WRITES) throw new CairnError(StatusCode.INTERNAL_ERROR, `a media manager commit of ${writes.length} writes exceeds ${MAX_EMM_WRITES}`);
    const versionOf = this.#db.prepare('SELECT version FROM emm_records WHERE kind = ? AND key = ?');
    const upsert = this.#db.prepare('INSERT INTO emm_records (kind, key, version, value) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET version = excluded.version, value = excluded.value');
    const remove = this.#db.prepare('DELETE FROM emm_records WHERE kind = ? AND key = ?');
    const apply = this.#db.transaction((): boolean => {
      for (const w of writes) {
        const row = versionOf.get(w.kind, w.key) as { version: number } | undefined;
        if ((row?.version ?? 0) !== w.expectVersion) return false;
      }
      for (const w of writes) {
        if (w.op === 'put') upsert.run(w.kind, w.key, w.expectVersion + 1, JSON.stringify(w.value));
        else remove.run(w.kind, w.key);
      }
      return true;
    });
    return apply.immediate();
  }
}

/** The media manager of the standalone runtime. */
export function sqliteMediaDatabase(db: SqliteDatabase): MediaDatabase {
  return new EmmDatabase(new SqliteEmmRecords(db));
}
