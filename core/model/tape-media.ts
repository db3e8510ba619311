import { z } from 'zod';
import { IsoTime, Name } from './names.ts';

/**
 * The media manager's records (NetBackup's EMM database): robots (tape
 * libraries), their drives, volume pools and volumes. Every record carries a
 * `version` the store bumps on each write, so a caller that read a record can
 * write it back only if nobody changed it meanwhile (optimistic concurrency).
 */

/** A volume's media id: its barcode, as the changer reports it and the label records it (FragmentLocation.mediaId). */
export const MediaId = z.string().regex(/^[A-Za-z0-9]{1,16}$/, 'use 1 to 16 letters or digits (the barcode)');
export type MediaId = z.output<typeof MediaId>;

/** The pool every new volume starts in, and the only one that cannot be added or deleted. */
export const SCRATCH_POOL = 'scratch';

const Version = z.number().int().min(0);

/**
 * How the agent drives a library's robot: `mtx -f DEVICE ...`, or an
 * existing Bacula/Bareos changer script (`SCRIPT CHANGER-DEVICE COMMAND ...`).
 */
export const Changer = z.discriminatedUnion('type', [
  z.object({ type: z.literal('mtx'), device: z.string().min(1) }).strict(),
  z.object({ type: z.literal('changer-script'), script: z.string().min(1), changerDevice: z.string().min(1) }).strict(),
]);
export type Changer = z.output<typeof Changer>;

export const Robot = z
  .object({
    name: Name,
    changer: Changer,
    /**
     * The client whose agent drives the library (the agent instance comes from
     * the client mapping, core/clients/); absent: the standalone runtime's own
     * in-process agent.
     */
    client: Name.optional(),
    /** Virtual libraries only: the capacity of each file-tape volume, in bytes (the file tape's end of media). */
    fileTapeCapacityBytes: z.number().int().min(1).optional(),
    addedAt: IsoTime,
    version: Version,
  })
  .strict();
export type Robot = z.output<typeof Robot>;

export const DriveState = z.enum(['UP', 'DOWN']);
export type DriveState = z.output<typeof DriveState>;

/** What went wrong on a drive or a volume, kept as history (the error policy counts them in a window). */
export const MediaErrorKind = z.enum(['write', 'read', 'position']);
export type MediaErrorKind = z.output<typeof MediaErrorKind>;

export const MediaErrorEntry = z
  .object({
    at: IsoTime,
    kind: MediaErrorKind,
    /** The drive the error happened in (on a volume's entry) or the volume it happened with (on a drive's). */
    drive: Name.optional(),
    mediaId: MediaId.optional(),
    jobId: z.number().int().min(1).optional(),
    message: z.string().max(1024),
  })
  .strict();
export type MediaErrorEntry = z.output<typeof MediaErrorEntry>;

/** How many error entries a record keeps; older ones are dropped (the policy's window needs only the recent ones). */
export const ERROR_HISTORY_LIMIT = 50;

/** An unload asked of the robot's agent, not yet known to be done (Drive.unloading). */
export const DriveUnloading = z
  .object({ mediaId: MediaId, holder: z.number().int().min(1), instanceId: z.string().min(1), commandId: z.string().min(1), since: IsoTime })
  .strict();
export type DriveUnloading = z.output<typeof DriveUnloading>;

export const Drive = z
  .object({
    name: Name,
    robot: Name,
    /** The drive's data transfer element number in the changer (0-based, the order of `--drive`). */
    index: z.number().int().min(0).max(999),
    /** `/dev/nstN` for a Linux st drive; any other path is a file tape. */
    path: z.string().min(1),
    /** Fixed record size written to the drive, in bytes. */
    blockSize: z.number().int().min(512).max(16 * 1024 * 1024),
    state: DriveState,
    /** Why the drive is DOWN (an operator's `cairn drive down`, or the error policy's reason). */
    downReason: z.string().optional(),
    /** Errors since the last reset (`cairn drive reset`). */
    errorCount: z.number().int().min(0),
    errors: z.array(MediaErrorEntry),
    /** The volume in the drive, as the media manager last recorded it. */
    loaded: z.object({ mediaId: MediaId, since: IsoTime }).strict().optional(),
    /** When a job last used the drive: with mediaUnmountDelaySeconds, when a loaded volume is taken out. */
    lastUsedAt: IsoTime.optional(),
    /**
     * An unload of `loaded` asked of the robot's agent and not yet known to
     * be done (the cloud scheduler's idle unload, core/media/idle-unload.ts):
     * the command sent, and the holder id the drive and volume are reserved
     * under meanwhile. `loaded` stays until the agent answers; any recorded
     * load or unload (`setDriveLoaded`, `recordMount`) clears it.
     */
    unloading: DriveUnloading.optional(),
    version: Version,
  })
  .strict();
export type Drive = z.output<typeof Drive>;

export const VolumePool = z
  .object({
    name: Name,
    description: z.string().max(256).default(''),
    version: Version,
  })
  .strict();
export type VolumePool = z.output<typeof VolumePool>;

/**
 * A volume's state. UNASSIGNED: never written (in scratch, or labelled into a
 * pool and not yet written). ACTIVE: written and appendable. FULL: end of
 * media was reached. FROZEN: not to be written (errors, or an operator);
 * readable. SUSPENDED: not to be written until unsuspended (an operator);
 * readable. FROZEN and SUSPENDED remember the state they were put on hold from.
 */
export const MediaState = z.enum(['UNASSIGNED', 'ACTIVE', 'FULL', 'FROZEN', 'SUSPENDED']);
export type MediaState = z.output<typeof MediaState>;
export const WriteState = z.enum(['UNASSIGNED', 'ACTIVE', 'FULL']);
export type WriteState = z.output<typeof WriteState>;

export const Media = z
  .object({
    mediaId: MediaId,
    /**
     * The robot the volume is in; absent: outside every robot (ejected, or
     * never seen by an inventory). `lastRobot` keeps where it was last seen.
     */
    robot: Name.optional(),
    /** Its home slot in the robot (also while it is in a drive, when the changer knows it). */
    slot: z.number().int().min(0).optional(),
    /** The drive it is in, as the last inventory or mount recorded. */
    drive: Name.optional(),
    lastRobot: Name.optional(),
    pool: Name,
    state: MediaState,
    /** What FROZEN / SUSPENDED return to. */
    heldFrom: WriteState.optional(),
    /** Nominal capacity, when known (the real end is the drive's early warning). */
    capacityBytes: z.number().int().min(1).optional(),
    bytesWritten: z.number().int().min(0),
    /** Tape files on the volume, label included: the next tape file written is number `tapeFiles` (the append point). */
    tapeFiles: z.number().int().min(0),
    /** Backup ids of the images with a fragment on the volume, each once, in the order first written. */
    images: z.array(z.string().min(1)),
    /** Retention of the images on it, in days: the volume is appended to only by jobs of the same retention. */
    retentionDays: z.number().int().min(0).optional(),
    /** The latest expiration of its images: after it the volume may return to scratch. */
    expiresAt: IsoTime.optional(),
    mountCount: z.number().int().min(0),
    lastMountedAt: IsoTime.optional(),
    lastWrittenAt: IsoTime.optional(),
    errors: z.array(MediaErrorEntry),
    addedAt: IsoTime,
    version: Version,
  })
  .strict();
export type Media = z.output<typeof Media>;

/** A new volume as the inventory (or an operator) finds it: in scratch, never written. */
export function newMedia(mediaId: string, at: Date, where: { robot?: string; slot?: number; pool?: string } = {}): Media {
  return Media.parse({
    mediaId,
    ...(where.robot === undefined ? {} : { robot: where.robot }),
    ...(where.slot === undefined ? {} : { slot: where.slot }),
    pool: where.pool ?? SCRATCH_POOL,
    state: 'UNASSIGNED',
    bytesWritten: 0,
    tapeFiles: 0,
    images: [],
    mountCount: 0,
    errors: [],
    addedAt: at.toISOString(),
    version: 0,
  });
}

/** Whether a volume may be written (state only: reservations are the broker's). */
export function isWritableState(state: MediaState): boolean {
  return state === 'UNASSIGNED' || state === 'ACTIVE';
}
