/**
 * The media manager's storage, as the adapters provide it: versioned JSON
 * records of four kinds, written by conditional transactions. Everything the
 * media manager decides (core/media/emm-database.ts) is built on these three
 * calls, so SQLite and DynamoDB behave the same by construction and the
 * adapters hold no rule of their own.
 */
export type EmmRecordKind = 'robot' | 'drive' | 'pool' | 'media';

/** A stored record: its key within its kind, the version it was written with (1 for the first write), and its value. */
export interface EmmRecord {
  kind: EmmRecordKind;
  key: string;
  version: number;
  value: unknown;
}

/**
 * One write of a commit. `expectVersion` is the version the record must have
 * now (0: it must not exist); a put stores `expectVersion + 1`.
 */
export type EmmWrite =
  | { op: 'put'; kind: EmmRecordKind; key: string; expectVersion: number; value: unknown }
  | { op: 'delete'; kind: EmmRecordKind; key: string; expectVersion: number };

/** At most this many writes in one commit (DynamoDB's TransactWriteItems limit). */
export const MAX_EMM_WRITES = 100;

export interface EmmRecords {
  /** The record, read consistently (after every commit that resolved before the call); undefined when absent. */
  get(kind: EmmRecordKind, key: string): Promise<EmmRecord | undefined>;
  /** Every record of a kind, by key in code point order, read consistently. */
  list(kind: EmmRecordKind): Promise<EmmRecord[]>;
  /**
   * Applies every write, or none: true when all conditions held and
   * everything was written; false when some record was not at its expected
   * version (nothing written; the caller reads again and decides again).
   * Never false for a collision that says nothing about the data (an
   * adapter retries those itself). At most MAX_EMM_WRITES writes, each key
   * once.
   */
  commit(writes: readonly EmmWrite[]): Promise<boolean>;
}
