export interface Reservation {
  jobId: number;
  storageUnit: string;
  reservedAt: string;
}

export type ReservationResult =
  | { granted: true; reservation: Reservation }
  | { granted: false; reason: string; inUse: number };

/**
 * The resource broker's database (EMM): which job holds which storage-unit
 * slot. Reserving is one atomic step, so two jobs racing for the last slot
 * cannot both win.
 */
export interface MediaStore {
  /**
   * Takes one slot of `storageUnit` for `jobId` when fewer than
   * `maxConcurrentJobs` are held. Idempotent: a job that already holds its
   * slot is granted again without taking a second one.
   */
  reserve(request: { jobId: number; storageUnit: string; maxConcurrentJobs: number; at: Date }): Promise<ReservationResult>;
  /** Gives back whatever the job holds. Idempotent; true when something was released. */
  release(jobId: number): Promise<boolean>;
  /** Current reservations, by job id ascending. */
  listReservations(storageUnit?: string): Promise<Reservation[]>;
}
