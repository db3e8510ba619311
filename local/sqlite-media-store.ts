import type { MediaStore, Reservation, ReservationResult } from '#core/ports/media-store.ts';
import { ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface ReservationRow {
  job_id: number;
  storage_unit: string;
  reserved_at: string;
}
const toReservation = (row: ReservationRow): Reservation => ({ jobId: row.job_id, storageUnit: row.storage_unit, reservedAt: row.reserved_at });

export class SqliteMediaStore implements MediaStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async reserve(request: { jobId: number; storageUnit: string; maxConcurrentJobs: number; at: Date }): Promise<ReservationResult> {
    assertJobId(request.jobId);
    // IMMEDIATE: count and insert under one write lock, so racing jobs cannot both take the last slot.
    const attempt = this.#db.transaction((): ReservationResult => {
      const held = this.#db.prepare('SELECT * FROM reservations WHERE job_id = ?').get(request.jobId) as ReservationRow | undefined;
      if (held && held.storage_unit !== request.storageUnit) {
        throw new ConflictError(`job ${request.jobId} holds a slot of ${held.storage_unit} already, not of ${request.storageUnit}`);
      }
      if (held) return { granted: true, reservation: toReservation(held) };
      const { inUse } = this.#db.prepare('SELECT COUNT(*) AS inUse FROM reservations WHERE storage_unit = ?').get(request.storageUnit) as { inUse: number };
      if (inUse >= request.maxConcurrentJobs) {
        return { granted: false, inUse, reason: `storage unit ${request.storageUnit} has ${inUse} of ${request.maxConcurrentJobs} slots in use` };
      }
      const row: ReservationRow = { job_id: request.jobId, storage_unit: request.storageUnit, reserved_at: request.at.toISOString() };
      this.#db.prepare('INSERT INTO reservations (job_id, storage_unit, reserved_at) VALUES (@job_id, @storage_unit, @reserved_at)').run(row);
      return { granted: true, reservation: toReservation(row) };
    });
    return attempt.immediate();
  }

  async release(jobId: number): Promise<boolean> {
    return this.#db.prepare('DELETE FROM reservations WHERE job_id = ?').run(jobId).changes > 0;
  }

  async listReservations(storageUnit?: string): Promise<Reservation[]> {
    const rows = (
      storageUnit
        ? this.#db.prepare('SELECT * FROM reservations WHERE storage_unit = ? ORDER BY job_id').all(storageUnit)
        : this.#db.prepare('SELECT * FROM reservations ORDER BY job_id').all()
    ) as ReservationRow[];
    return rows.map(toReservation);
  }
}
