import type { HeldResource, MediaStore, Reservation, ReservationResult, ResourceRequest, VolumeExchange } from '#core/ports/media-store.ts';
import { checkRequest, compareReservations, describeResource, heldByReason, heldResource, holdsExactly, planVolumeExchange, resourceKey } from '#core/model/resource-request.ts';
import { ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/** One row per held resource; `value` is the HeldResource as JSON, `storage_unit` copied out for counting and the list filter. */
interface HeldRow {
  job_id: number;
  resource: string;
  kind: string;
  storage_unit: string | null;
  value: string;
  reserved_at: string;
}
const toReservation = (row: HeldRow): Reservation => ({ jobId: row.job_id, ...(JSON.parse(row.value) as HeldResource), reservedAt: row.reserved_at });

export class SqliteMediaStore implements MediaStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async reserve(request: ResourceRequest): Promise<ReservationResult> {
    assertJobId(request.jobId);
    checkRequest(request);
    const { jobId, resources, at } = request;
    // IMMEDIATE: count and insert under one write lock, so racing jobs cannot both take the last slot,
    // and every resource of the request is checked before any is taken.
    const attempt = this.#db.transaction((): ReservationResult => {
      const held = this.#db.prepare('SELECT * FROM held_resources WHERE job_id = ? ORDER BY resource').all(jobId) as HeldRow[];
      if (held.length > 0) {
        const holding = held.map(toReservation);
        if (!holdsExactly(holding, resources)) {
          throw new ConflictError(`job ${jobId} holds ${holding.map(describeResource).join(', ')} already, not what it asks for now (${resources.map(describeResource).join(', ')}); release it first`);
        }
        return { granted: true, reservations: holding };
      }
      for (const resource of resources) {
        if (resource.kind !== 'storage-unit-slot') {
          // A drive or volume is one job's: whoever holds it (any unit, any pool) refuses the request.
          const name = resource.kind === 'drive' ? resource.drive : resource.mediaId;
          const holder = this.#db.prepare(`SELECT job_id FROM held_resources WHERE kind = ? AND json_extract(value, '$.${resource.kind === 'drive' ? 'drive' : 'mediaId'}') = ?`).get(resource.kind, name) as { job_id: number } | undefined;
          if (holder !== undefined) return { granted: false, refused: resource, inUse: 1, reason: heldByReason(resource, holder.job_id) };
          continue;
        }
        const { inUse } = this.#db.prepare("SELECT COUNT(*) AS inUse FROM held_resources WHERE kind = 'storage-unit-slot' AND storage_unit = ?").get(resource.storageUnit) as { inUse: number };
        if (inUse >= resource.maxConcurrentJobs) {
          return { granted: false, refused: resource, inUse, reason: `storage unit ${resource.storageUnit} has ${inUse} of ${resource.maxConcurrentJobs} slots in use` };
        }
      }
      const insert = this.#db.prepare('INSERT INTO held_resources (job_id, resource, kind, storage_unit, value, reserved_at) VALUES (@job_id, @resource, @kind, @storage_unit, @value, @reserved_at)');
      const reservations = resources.map((requested) => {
        const resource = heldResource(requested);
        const row: HeldRow = { job_id: jobId, resource: resourceKey(resource), kind: resource.kind, storage_unit: 'storageUnit' in resource ? resource.storageUnit : null, value: JSON.stringify(resource), reserved_at: at.toISOString() };
        insert.run(row);
        return toReservation(row);
      });
      return { granted: true, reservations: reservations.sort(compareReservations) };
    });
    return attempt.immediate();
  }

  async exchangeVolume(exchange: VolumeExchange): Promise<ReservationResult> {
    assertJobId(exchange.jobId);
    const { jobId, from, to, at } = exchange;
    const attempt = this.#db.transaction((): ReservationResult => {
      const held = (this.#db.prepare('SELECT * FROM held_resources WHERE job_id = ? ORDER BY resource').all(jobId) as HeldRow[]).map(toReservation);
      const plan = planVolumeExchange(held, exchange);
      if (plan.kind === 'already') return { granted: true, reservations: held.sort(compareReservations) };
      const wanted: HeldResource = { kind: 'volume', pool: to.pool, mediaId: to.mediaId };
      const holder = this.#db.prepare("SELECT job_id FROM held_resources WHERE kind = 'volume' AND json_extract(value, '$.mediaId') = ?").get(to.mediaId) as { job_id: number } | undefined;
      if (holder !== undefined) return { granted: false, refused: { ...wanted }, inUse: 1, reason: heldByReason(wanted, holder.job_id) };
      this.#db.prepare("DELETE FROM held_resources WHERE job_id = ? AND kind = 'volume' AND json_extract(value, '$.mediaId') = ?").run(jobId, from);
      const row: HeldRow = { job_id: jobId, resource: resourceKey(wanted), kind: 'volume', storage_unit: null, value: JSON.stringify(wanted), reserved_at: at.toISOString() };
      this.#db.prepare('INSERT INTO held_resources (job_id, resource, kind, storage_unit, value, reserved_at) VALUES (@job_id, @resource, @kind, @storage_unit, @value, @reserved_at)').run(row);
      return { granted: true, reservations: (this.#db.prepare('SELECT * FROM held_resources WHERE job_id = ?').all(jobId) as HeldRow[]).map(toReservation).sort(compareReservations) };
    });
    return attempt.immediate();
  }

  async release(jobId: number): Promise<boolean> {
    return this.#db.prepare('DELETE FROM held_resources WHERE job_id = ?').run(jobId).changes > 0;
  }

  async listReservations(storageUnit?: string): Promise<Reservation[]> {
    const rows = (
      storageUnit
        ? this.#db.prepare('SELECT * FROM held_resources WHERE storage_unit = ? ORDER BY job_id, resource').all(storageUnit)
        : this.#db.prepare('SELECT * FROM held_resources ORDER BY job_id, resource').all()
    ) as HeldRow[];
    return rows.map(toReservation);
  }
}
