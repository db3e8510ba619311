import { ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import { checkRequest, compareReservations, describeResource, exclusiveKey, heldByReason, heldResource, holdsExactly, planVolumeExchange } from '#core/model/resource-request.ts';
import type { HeldResource, MediaStore, Reservation, ReservationResult, ResourceRequest, VolumeExchange } from '#core/ports/media-store.ts';
import { io, stored } from './copy.ts';

/**
 * MediaStore in memory, for tests and benchmarks only (see README.md).
 * Checking every resource of a request and taking them all happen in one
 * synchronous step, so a request is all-or-nothing and racing jobs cannot
 * both take the last slot.
 */
export class MemoryMediaStore implements MediaStore {
  /** What each job holds: its whole granted request. */
  readonly #held = new Map<number, Reservation[]>();

  async reserve(request: ResourceRequest): Promise<ReservationResult> {
    assertJobId(request.jobId);
    checkRequest(request);
    await io();
    const { jobId, resources, at } = request;
    const holding = this.#held.get(jobId);
    if (holding !== undefined) {
      if (!holdsExactly(holding, resources)) {
        throw new ConflictError(`job ${jobId} holds ${holding.map(describeResource).join(', ')} already, not what it asks for now (${resources.map(describeResource).join(', ')}); release it first`);
      }
      return { granted: true, reservations: holding.map(stored) };
    }
    for (const resource of resources) {
      if (resource.kind !== 'storage-unit-slot') {
        const holder = this.#all().find((r) => exclusiveKey(r) === exclusiveKey(resource));
        if (holder !== undefined) return { granted: false, refused: resource, inUse: 1, reason: heldByReason(resource, holder.jobId) };
        continue;
      }
      const inUse = this.#all().filter((r) => r.kind === 'storage-unit-slot' && r.storageUnit === resource.storageUnit).length;
      if (inUse >= resource.maxConcurrentJobs) {
        return { granted: false, refused: resource, inUse, reason: `storage unit ${resource.storageUnit} has ${inUse} of ${resource.maxConcurrentJobs} slots in use` };
      }
    }
    const reservations = resources.map((r): Reservation => ({ ...heldResource(r), jobId, reservedAt: at.toISOString() })).sort(compareReservations);
    this.#held.set(jobId, reservations);
    return { granted: true, reservations: reservations.map(stored) };
  }

  async exchangeVolume(exchange: VolumeExchange): Promise<ReservationResult> {
    assertJobId(exchange.jobId);
    await io();
    const { jobId, from, to, at } = exchange;
    const holding = this.#held.get(jobId) ?? [];
    const plan = planVolumeExchange(holding, exchange);
    if (plan.kind === 'already') return { granted: true, reservations: holding.map(stored) };
    const wanted: HeldResource = { kind: 'volume', pool: to.pool, mediaId: to.mediaId };
    const holder = this.#all().find((r) => exclusiveKey(r) === exclusiveKey(wanted));
    if (holder !== undefined) return { granted: false, refused: { ...wanted }, inUse: 1, reason: heldByReason(wanted, holder.jobId) };
    const next = [...holding.filter((r) => !(r.kind === 'volume' && r.mediaId === from)), { ...wanted, jobId, reservedAt: at.toISOString() }].sort(compareReservations);
    this.#held.set(jobId, next);
    return { granted: true, reservations: next.map(stored) };
  }

  async release(jobId: number): Promise<boolean> {
    await io();
    return this.#held.delete(jobId);
  }

  async listReservations(storageUnit?: string): Promise<Reservation[]> {
    await io();
    return this.#all()
      .filter((r) => storageUnit === undefined || ('storageUnit' in r && r.storageUnit === storageUnit))
      .sort(compareReservations)
      .map(stored);
  }

  #all(): Reservation[] {
    return [...this.#held.values()].flat();
  }
}
