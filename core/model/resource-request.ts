import { CairnError, ConflictError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * One resource of a job's resource request (nbrb's allocation request).
 * The broker reserves a whole request in one transaction: every resource,
 * or none.
 */
export type RequestedResource =
  /** One of a storage unit's concurrent-job slots (Maximum Concurrent Jobs). */
  | { kind: 'storage-unit-slot'; storageUnit: string; maxConcurrentJobs: number }
  /**
   * A tape drive of a tape storage unit. The store reserves a named one only:
   * the broker chooses it first (core/media/volume-choice.ts) and asks again
   * if another job took it meanwhile. A drive is held by one job at a time,
   * whatever storage unit it is asked through.
   */
  | { kind: 'drive'; storageUnit: string; drive?: string }
  /** A tape volume of a volume pool, named (chosen as a drive is). A volume is held by one job at a time. */
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

/** A tape job's volume hold moved from the full volume `from` to volume `to` of `pool` (MediaStore.exchangeVolume). */
export interface VolumeExchange {
  jobId: number;
  from: string;
  to: { pool: string; mediaId: string };
  at: Date;
}

export type ReservationResult =
  | { granted: true; reservations: Reservation[] }
  /**
   * Nothing was taken. `refused` is the first resource that is not
   * available, `reason` says why, `inUse` how many of it are held.
   */
  | { granted: false; refused: RequestedResource; reason: string; inUse: number };

/**
 * What no two jobs may hold at once: a drive by its name, a volume by its
 * media id (undefined for slots, which are counted instead).
 */
export function exclusiveKey(resource: RequestedResource | HeldResource): string | undefined {
  switch (resource.kind) {
    case 'storage-unit-slot':
      return undefined;
    case 'drive':
      return resource.drive === undefined ? undefined : `drive#${resource.drive}`;
    case 'volume':
      return resource.mediaId === undefined ? undefined : `volume#${resource.mediaId}`;
  }
}

/** Why an exclusive resource is not available: "drive d1 is held by job 7". */
export function heldByReason(resource: RequestedResource, holder: number | undefined): string {
  const what = resource.kind === 'drive' ? `drive ${resource.drive}` : resource.kind === 'volume' ? `volume ${resource.mediaId}` : describeResource(resource);
  return `${what} is held by ${holder === undefined ? 'another job' : `job ${holder}`}`;
}

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
 * least one resource, each once; a drive or a volume by name (status 20
 * otherwise: choosing one is the broker's, not the store's).
 */
export function checkRequest(request: ResourceRequest): void {
  if (!(Number.isInteger(request.jobId) && request.jobId > 0)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job id ${request.jobId} is not a positive integer`);
  if (request.resources.length === 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the resource request of job ${request.jobId} names no resource`);
  const seen = new Set<string>();
  for (const resource of request.resources) {
    if (resource.kind !== 'storage-unit-slot' && exclusiveKey(resource) === undefined) {
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${request.jobId} asks for ${describeResource(resource)}: a ${resource.kind} must be named (the broker chooses it before it reserves)`);
    }
    const key = resourceKey(resource);
    if (seen.has(key)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the resource request of job ${request.jobId} names ${describeResource(resource)} twice`);
    seen.add(key);
  }
}

/** The held form of a granted resource (drives and volumes are named; see `checkRequest`). */
export function heldResource(resource: RequestedResource): HeldResource {
  switch (resource.kind) {
    case 'storage-unit-slot':
      return { kind: resource.kind, storageUnit: resource.storageUnit };
    case 'drive':
      if (resource.drive === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `${describeResource(resource)} cannot be held unnamed`);
      return { kind: resource.kind, storageUnit: resource.storageUnit, drive: resource.drive };
    case 'volume':
      if (resource.mediaId === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `${describeResource(resource)} cannot be held unnamed`);
      return { kind: resource.kind, pool: resource.pool, mediaId: resource.mediaId };
  }
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

/**
 * What an adapter does with a volume exchange, given what the job holds now
 * (every adapter applies the same rule inside its transaction): `already`
 * when it holds `to` and not `from` (a retried step), `exchange` with the
 * resources it holds afterwards. ConflictError when it does not hold `from`
 * (nothing to exchange) or holds both.
 */
export function planVolumeExchange(held: readonly HeldResource[], exchange: VolumeExchange): { kind: 'already' } | { kind: 'exchange'; next: HeldResource[] } {
  const holds = (mediaId: string): boolean => held.some((r) => r.kind === 'volume' && r.mediaId === mediaId);
  if (exchange.from === exchange.to.mediaId) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${exchange.jobId}: volume ${exchange.from} cannot be exchanged for itself`);
  if (holds(exchange.to.mediaId) && !holds(exchange.from)) return { kind: 'already' };
  if (!holds(exchange.from) || holds(exchange.to.mediaId)) {
    const what = held.length === 0 ? 'nothing' : held.map(describeResource).join(', ');
    throw new ConflictError(`job ${exchange.jobId} holds ${what}: it cannot exchange volume ${exchange.from} for volume ${exchange.to.mediaId}`);
  }
  return { kind: 'exchange', next: [...held.filter((r) => !(r.kind === 'volume' && r.mediaId === exchange.from)), { kind: 'volume', pool: exchange.to.pool, mediaId: exchange.to.mediaId }] };
}
