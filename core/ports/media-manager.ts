import type { Drive, DriveState, DriveUnloading, Media, MediaErrorEntry, MediaState, Robot, VolumePool } from '../model/tape-media.ts';
import type { InventoryPlan, InventoryReport } from '../media/inventory.ts';

export type { Drive, Media, Robot, VolumePool } from '../model/tape-media.ts';

/** A new robot / drive / pool / volume: the record without what the media manager keeps itself. */
export type NewRobot = Omit<Robot, 'version' | 'addedAt'>;
export type NewDrive = Pick<Drive, 'name' | 'robot' | 'index' | 'path' | 'blockSize'>;
export type NewPool = Pick<VolumePool, 'name'> & { description?: string };

export interface MediaFilter {
  pool?: string;
  robot?: string;
  state?: MediaState;
}

/** One write to a volume (a fragment, or the label) as bptm reports it. */
export interface MediaWrite {
  bytes: number;
  /** Tape files the write added (each fragment is one; the label is one). */
  tapeFiles: number;
  /** The image written, added to the volume's images once. */
  backupId?: string;
  /** The image's expiration: the volume's expiration becomes the latest of its images'. */
  expiresAt?: string;
  /** The image's retention: recorded on the first write, so later jobs append only with the same retention. */
  retentionDays?: number;
  at: Date;
  /** End of media was reached: the volume turns FULL. */
  full?: boolean;
}

/** What applyInventory did: the plan, and the volumes it changed. */
export interface InventoryResult {
  plan: InventoryPlan;
  added: string[];
  moved: string[];
  left: string[];
}

/**
 * The media manager's database (NetBackup EMM): robots, drives, volume
 * pools and volumes. The broker reads it to choose drives and volumes; jobs
 * record writes, mounts and errors in it; the CLI administers it.
 *
 * Contract (test/contracts/media-manager-contract.ts, for every adapter):
 * - Names are unique per kind (drive names across robots too); adding one
 *   that exists is refused with status 20, and so is a drive index used twice
 *   in one robot. A name that does not exist is a NotFoundError: robot and
 *   drive 219, pool and media 96.
 * - Every change of a record is a read-modify-write conditional on the version
 *   read: a change that lost a race is applied again to the fresh record, so
 *   racing writers never lose each other's update (two recordWrite calls on
 *   one volume both count). `updateMedia` with `expectedVersion` does not
 *   retry: it applies to that version or throws a ConflictError (2005).
 *   Contention that never settles ends in a ConflictError 2006.
 * - The built-in pool `scratch` always exists; it cannot be added or
 *   deleted (20). A pool that holds volumes is not deleted (20, naming how
 *   many), and a volume labelled into a pool at the same time as the pool is
 *   deleted cannot end up in a deleted pool.
 * - Lists come in code point order of their names / media ids.
 */
export interface MediaDatabase {
  addRobot(robot: NewRobot, at: Date): Promise<Robot>;
  getRobot(name: string): Promise<Robot | undefined>;
  listRobots(): Promise<Robot[]>;
  /** Removes the robot and its drives; its volumes go outside the robot (their `lastRobot` keeps its name). */
  removeRobot(name: string): Promise<void>;

  /** Adds an UP drive with no errors and nothing loaded. The robot must exist. */
  addDrive(drive: NewDrive): Promise<Drive>;
  getDrive(name: string): Promise<Drive | undefined>;
  /** Drives of one robot (by index) or of all (by name). */
  listDrives(robot?: string): Promise<Drive[]>;
  removeDrive(name: string): Promise<void>;
  /** `cairn drive up|down`: UP clears the down reason. */
  setDriveState(name: string, state: DriveState, reason?: string): Promise<Drive>;
  /** `cairn drive reset`: error count to 0 and the error history emptied. */
  resetDriveErrors(name: string): Promise<Drive>;
  /** Adds an error to the drive's history and count (the error policy decides on DOWN; the caller applies it). */
  recordDriveError(name: string, error: MediaErrorEntry): Promise<Drive>;
  /** What is in the drive now (undefined: empty), and that a job used it at `at`. Ends an unload in flight (`unloading`). */
  setDriveLoaded(name: string, mediaId: string | undefined, at: Date): Promise<Drive>;
  /** Records an unload asked of the robot's agent (`Drive.unloading`), or that none is in flight any more (undefined); `loaded` is kept. */
  setDriveUnloading(name: string, unloading: DriveUnloading | undefined): Promise<Drive>;

  addPool(pool: NewPool): Promise<VolumePool>;
  getPool(name: string): Promise<VolumePool | undefined>;
  listPools(): Promise<VolumePool[]>;
  deletePool(name: string): Promise<void>;

  /** Adds a volume as found (newMedia): its pool must exist. */
  addMedia(media: Media): Promise<Media>;
  getMedia(mediaId: string): Promise<Media | undefined>;
  listMedia(filter?: MediaFilter): Promise<Media[]>;
  /**
   * Applies `change` to the volume. Without `expectedVersion` a lost race is
   * retried on the fresh record; with it, the change applies to that version
   * only (ConflictError 2005 otherwise). A change that moves the volume to
   * another pool is checked against that pool existing.
   */
  updateMedia(mediaId: string, change: (media: Media) => Media, options?: { expectedVersion?: number }): Promise<Media>;
  freeze(mediaId: string): Promise<Media>;
  unfreeze(mediaId: string): Promise<Media>;
  suspend(mediaId: string): Promise<Media>;
  unsuspend(mediaId: string): Promise<Media>;
  /**
   * Assigns a never-written volume to a pool (`cairn media label`). A volume
   * holding images is refused (20): it returns to scratch only when they expire.
   */
  label(mediaId: string, pool: string): Promise<Media>;
  recordMediaError(mediaId: string, error: MediaErrorEntry): Promise<Media>;
  /** Counts a write: bytes, tape files, the image, expiration, retention, last written; UNASSIGNED becomes ACTIVE, `full` makes it FULL. */
  recordWrite(mediaId: string, write: MediaWrite): Promise<Media>;
  /** Counts a mount of the volume in the drive: mount count, last mounted, and the drive's loaded volume. */
  recordMount(mediaId: string, drive: string, at: Date): Promise<Media>;
  /**
   * `cairn robot inventory` (vmupdate): reconciles the robot's volumes with
   * what its changer reported (core/media/inventory.ts) and applies it.
   * Each volume is changed on its own (idempotent: running it again changes
   * nothing more).
   */
  applyInventory(robot: string, report: InventoryReport, at: Date): Promise<InventoryResult>;
}
