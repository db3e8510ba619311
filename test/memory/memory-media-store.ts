import { ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import type { MediaStore, Reservation, ReservationResult } from '#core/ports/media-store.ts';
import { io, stored } from './copy.ts';

/**
 * MediaStore in memory, for tests and benchmarks only (see README.md).
 * Counting the unit's slots and taking one happen in one synchronous step,
 * so racing jobs cannot both take the last slot.
 */
export class MemoryMediaStore implements MediaStore {
  readonly #reservations = new Map<number, Reservation>();

  async reserve(request: { jobId: number; storageUnit: string; maxConcurrentJobs: number; at: Date }): Promise<ReservationResult> {
    assertJobId(request.jobId);
    await io();
    const held = this.#reservations.get(request.jobId);
    if (held !== undefined && held.storageUnit !== request.storageUnit) {
      throw new ConflictError(`job ${request.jobId} holds a slot of ${held.storageUnit} already, not of ${request.storageUnit}`);
    }
    if (held !== undefined) return { granted: true, reservation: stored(held) };
    const inUse = [...this.#reservations.values()].filter((r) => r.storageUnit === request.storageUnit).length;
    if (inUse >= request.maxConcurrentJobs) {
      return { granted: false, inUse, reason: `storage unit ${request.storageUnit} has ${inUse} of ${request.maxConcurrentJobs} slots in use` };
    }
    const reservation: Reservation = { jobId: request.jobId, storageUnit: request.storageUnit, reservedAt: request.at.toISOString() };
    this.#reservations.set(request.jobId, reservation);
    return { granted: true, reservation: stored(reservation) };
  }

  async release(jobId: number): Promise<boolean> {
    await io();
    return this.#reservations.delete(jobId);
  }

  async listReservations(storageUnit?: string): Promise<Reservation[]> {
    await io();
    return [...this.#reservations.values()]
      .filter((r) => storageUnit === undefined || r.storageUnit === storageUnit)
      .sort((a, b) => a.jobId - b.jobId)
      .map(stored);
  }
}
