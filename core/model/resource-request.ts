import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * One resource of a job's resource request (nbrb's allocation request).
 * The broker reserves a whole request in one transaction: every resource,
 * or none.
 */
export type RequestedResource =
  /** One of a storage unit's concurrent-job slots (Maximum Concurrent Jobs). */
  | { kind: 'storage-unit-slot'; storageUnit: string; maxConcurrentJobs: number }
  /** A tape drive of a tape storage unit: a named one, or any free one. Not reservable until tape lands. */
  | { kind: 'drive'; storageUnit: string; drive?: string }
  /** A tape volume of a volume pool: a named one (a restore's), or any writable one. Not reservable until tape lands. */
  | { kind: 'volume'; pool: string; mediaId?: string };
export type ResourceKind = RequestedResource['kind'];

/** What a job holds of a resource once granted: the resource, without the request's limits. */
export type HeldResource =
  | { kind: 'storage-unit-slot'; storageUnit: string }
  | { kind: 'drive'; storageUnit: string; drive: string }
  | { kind: 'volume'; pool: string; mediaId: string };

/** One resource a job holds, as listed. */
export type Reservation = HeldResource & { jobId: number; reservedAt: string };

export interface ResourceRequest {
  jobId: number;
  resources: readonly RequestedResource[];
  at: Date;
}

export type ReservationResult =
  | { granted: true; reservations: Reservation[] }
  /**
   * Nothing was taken. `refused` is the first resource that is not
   * available, `reason` says why, `inUse` how many of it are held.
   */
  | { granted: false; refused: RequestedResource; reason: string; inUse: number };

/** The kinds an adapter can reserve today; the others are refused by `checkRequest`. */
const RESERVABLE: ReadonlySet<ResourceKind> = new Set(['storage-unit-slot']);

/** A resource's identity: two requests for the same key are the same resource. */
export function resourceKey(resource: RequestedResource | HeldResource): string {
  switch (resource.kind) {
    case 'storage-unit-slot':
      return `storage-unit-slot:${resource.storageUnit}`;
    case 'drive':
      return `drive:${resource.storageUnit}:${resource.drive ?? '*'}`;
    case 'volume':
      return `volume:${resource.pool}:${resource.mediaId ?? '*'}`;
  }
}

export function describeResource(resource: RequestedResource | HeldResource): string {
  switch (resource.kind) {
    case 'storage-unit-slot':
      return `a slot of storage unit ${resource.storageUnit}`;
    case 'drive':
      return `${resource.drive ? `drive ${resource.drive}` : 'a drive'} of storage unit ${resource.storageUnit}`;
    case 'volume':
      return `${resource.mediaId ? `volume ${resource.mediaId}` : 'a volume'} of pool ${resource.pool}`;
  }
}

/**
 * What every adapter checks before its transaction: a request names at
 * least one resource, each once, each of a kind that can be reserved now.
 * Drives and volumes are refused (status 20) until tape support lands,
 * rather than granted without anything behind them.
 */
export function checkRequest(request: ResourceRequest): void {
  if (!(Number.isInteger(request.jobId) && request.jobId > 0)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job id ${request.jobId} is not a positive integer`);
  if (request.resources.length === 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the resource request of job ${request.jobId} names no resource`);
  const seen = new Set<string>();
  for (const resource of request.resources) {
    if (!RESERVABLE.has(resource.kind)) {
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${request.jobId} asks for ${describeResource(resource)}: ${resource.kind} resources cannot be reserved until tape support lands`);
    }
    const key = resourceKey(resource);
    if (seen.has(key)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the resource request of job ${request.jobId} names ${describeResource(resource)} twice`);
    seen.add(key);
  }
}

/** The held form of a granted resource (only slots are granted today; see `checkRequest`). */
export function heldResource(resource: RequestedResource): HeldResource {
  if (resource.kind !== 'storage-unit-slot') throw new CairnError(StatusCode.INTERNAL_ERROR, `${resource.kind} resources cannot be held yet`);
  return { kind: resource.kind, storageUnit: resource.storageUnit };
}

/**
 * True when what the job holds is exactly its request: a retried Reserve
 * step is granted again. A job holding something else must release it
 * first (ConflictError in the adapters), so a request never silently grows.
 */
export function holdsExactly(held: readonly (HeldResource | RequestedResource)[], request: readonly RequestedResource[]): boolean {
  const keys = new Set(held.map(resourceKey));
  return keys.size === request.length && request.every((r) => keys.has(resourceKey(r)));
}

/** Reservations in listing order: by job id, then by resource. */
export function compareReservations(a: Reservation, b: Reservation): number {
  return a.jobId - b.jobId || (resourceKey(a) < resourceKey(b) ? -1 : resourceKey(a) > resourceKey(b) ? 1 : 0);
}
