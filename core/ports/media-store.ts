import type { Reservation, ReservationResult, ResourceRequest, VolumeExchange } from '../model/resource-request.ts';

export type { HeldResource, RequestedResource, Reservation, ReservationResult, ResourceRequest, VolumeExchange } from '../model/resource-request.ts';

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
  /**
   * Spanning (a tape job whose volume is full): in ONE transaction the job
   * gives back its hold on volume `from` and takes volume `to`, keeping
   * everything else it holds (its slot, its drive). Refused, with the holder
   * named as `reserve` does, when another job holds `to`: then nothing
   * changes and the job still holds `from`. Idempotent: a job that holds
   * `to` and not `from` is granted again. A job that holds neither (or
   * nothing) gets a ConflictError: there is nothing to exchange.
   * Resolves with what the job holds afterwards.
   */
  exchangeVolume(exchange: VolumeExchange): Promise<ReservationResult>;
  /** Gives back everything the job holds, in one step. Idempotent; true when something was released. */
  release(jobId: number): Promise<boolean>;
  /** Current reservations, one per held resource, by job id ascending; only those of `storageUnit` when given. */
  listReservations(storageUnit?: string): Promise<Reservation[]>;
}
