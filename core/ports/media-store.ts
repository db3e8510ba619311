import type { Reservation, ReservationResult, ResourceRequest } from '../model/resource-request.ts';

export type { HeldResource, RequestedResource, Reservation, ReservationResult, ResourceRequest } from '../model/resource-request.ts';

/**
 * The resource broker's database (EMM): which job holds which resources
 * (storage-unit slots, tape drives, tape volumes).
 */
export interface MediaStore {
  /**
   * Reserves a job's whole resource request in ONE transaction: every
   * resource is granted, or nothing is taken and the answer names the first
   * resource that is not available and why. Racing jobs never take more
   * slots than a unit allows, never hold one drive together (whatever unit
   * they ask through), never one volume together.
   * Idempotent: a job that already holds exactly this request is granted
   * again without taking anything more; a job that holds something else gets
   * a ConflictError (release first). A drive or volume without a name and
   * malformed requests are refused with status 20 (`checkRequest`).
   */
  reserve(request: ResourceRequest): Promise<ReservationResult>;
  /** Gives back everything the job holds, in one step. Idempotent; true when something was released. */
  release(jobId: number): Promise<boolean>;
  /** Current reservations, one per held resource, by job id ascending; only those of `storageUnit` when given. */
  listReservations(storageUnit?: string): Promise<Reservation[]>;
}
