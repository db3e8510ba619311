import { z } from 'zod';
import { IsoTime, Name } from './names.ts';
import { Changer, MediaId } from './tape-media.ts';
import { MAX_THROUGHPUT_SAMPLES, ThroughputSample } from './throughput-sample.ts';

/**
 * What the agent is told about tape for one job: the robot to move
 * cartridges with, the drive the broker reserved and the volume it chose.
 * The broker copies these from the media manager's records when it grants
 * the job (core/broker/tape-choice.ts), so the agent never reads the media
 * database: in AWS it has no access to it, and a record changed after the
 * grant does not change what this job was given.
 */

/** The robot (library) as the agent drives it: its changer and, by drive index, each drive's path (a changer script's ARCHIVE-DEVICE). */
export const TapeRobotAccess = z
  .object({
    name: Name,
    changer: Changer,
    drives: z.array(z.object({ index: z.number().int().min(0), path: z.string().min(1) }).strict()).min(1),
  })
  .strict();
export type TapeRobotAccess = z.output<typeof TapeRobotAccess>;

/** The reserved drive: `/dev/nst*` is a Linux st drive, any other path a file tape (disk-changer's `driveN` link). */
export const TapeDriveAccess = z
  .object({
    name: Name,
    index: z.number().int().min(0),
    path: z.string().min(1),
    blockSize: z.number().int().min(512),
    /** File tapes only: the volume's capacity (its end of media), from the robot's record. */
    fileTapeCapacityBytes: z.number().int().min(1).optional(),
    /**
     * File tapes only: how far before the end of media the early warning is.
     * Set by the agent for a backup (edge-agent/tape/early-warning.ts: the
     * room its writer may still have in flight); absent, the file tape's default.
     */
    earlyWarningBytes: z.number().int().min(0).optional(),
  })
  .strict();
export type TapeDriveAccess = z.output<typeof TapeDriveAccess>;

/** The volume chosen for the job. */
export const TapeVolumeAccess = z
  .object({
    mediaId: MediaId,
    /** Its home slot in the robot: where Mount loads it from and Unmount puts it back. */
    slot: z.number().int().min(1),
    pool: Name,
    /** The next tape file number (the media database's `tapeFiles`; 1 on a freshly labelled volume, the label being file 0). */
    appendFile: z.number().int().min(1),
    /** Never written (UNASSIGNED, from scratch or labelled into the pool): Mount writes its label; a blank tape only. */
    label: z.boolean(),
  })
  .strict();
export type TapeVolumeAccess = z.output<typeof TapeVolumeAccess>;

/**
 * What a tape backup's Stream step writes to (BackupTask.tape), and after a
 * volume filled, what its Continue step hands it (ContinueBackupTask).
 * `spanWaitSeconds`: how long the agent waits for the next volume after it
 * reported one full (the media mount timeout and the time a Mount may
 * take); past it the backup fails with 96. Absent: SPAN_WAIT_SECONDS.
 */
export const TapeTarget = z.object({ drive: TapeDriveAccess, volume: TapeVolumeAccess, spanWaitSeconds: z.number().int().min(1).optional() }).strict();
export type TapeTarget = z.output<typeof TapeTarget>;

/** Mount: have the robot put the volume in the drive (unless it is there), label or check it, position at the append point. */
export const MountTask = z.object({ jobId: z.number().int().positive(), robot: TapeRobotAccess, drive: TapeDriveAccess, volume: TapeVolumeAccess }).strict();
export type MountTask = z.output<typeof MountTask>;

export const MountResult = z
  .object({
    mediaId: MediaId,
    drive: Name,
    /** False when the volume was in the drive already (no robot move). */
    moved: z.boolean(),
    /** True when Mount wrote the volume's label. */
    labelled: z.boolean(),
    appendFile: z.number().int().min(1),
  })
  .strict();
export type MountResult = z.output<typeof MountResult>;

/**
 * Unmount: take the volume out of the drive and back to its slot, after
 * rewinding and ejecting it on an st drive. With `keepLoaded` (a job that
 * succeeded on a unit with mediaUnmountDelaySeconds > 0) the volume stays
 * in the drive for the next job of the pool, and nothing moves.
 */
export const UnmountTask = z
  .object({ jobId: z.number().int().positive(), robot: TapeRobotAccess, drive: TapeDriveAccess, mediaId: MediaId, slot: z.number().int().min(1), keepLoaded: z.boolean() })
  .strict();
export type UnmountTask = z.output<typeof UnmountTask>;

export const UnmountResult = z.object({ drive: Name, unloaded: z.boolean() }).strict();
export type UnmountResult = z.output<typeof UnmountResult>;

/** How long an agent waits for the next volume when the target does not say (the default media mount timeout, 30 min, and an hour for the Mount). */
export const SPAN_WAIT_SECONDS = 1800 + 3600;

/**
 * What a tape backup's Stream (or Continue) step reports when its volume
 * reached end of media and the fragment on it is closed: the volume is
 * full, the backup waits (the agent process stays alive) for the next
 * volume. The workflow reserves one (ReserveNextVolume), mounts it in the
 * same drive and sends the waiting backup a `continue-backup` command.
 */
export const VolumeFullOutcome = z
  .object({
    outcome: z.literal('volume-full'),
    jobId: z.number().int().positive(),
    /** Which waiting backup process the continuation is for (several attempts of one job never share one). */
    waiter: z.string().min(1).max(200),
    mediaId: MediaId,
    drive: Name,
    /** Fragments the backup wrote on the volume, their bytes (tar), and the volume's append point after them. */
    fragments: z.number().int().min(0),
    bytes: z.number().int().min(0),
    appendFile: z.number().int().min(1),
    /** When the agent reported it (its clock): the media mount timeout counts from here. */
    fullAt: IsoTime,
  })
  .strict();
export type VolumeFullOutcome = z.output<typeof VolumeFullOutcome>;

/** The next volume for a waiting backup (`continue-backup`): the same drive, the volume Mount just put in it. */
export const ContinueBackupTask = z.object({ jobId: z.number().int().positive(), waiter: z.string().min(1).max(200), tape: TapeTarget }).strict();
export type ContinueBackupTask = z.output<typeof ContinueBackupTask>;

/**
 * What one Read step of a tape restore job reads (RestoreTask.tape): the
 * volume the Mount step put in the reserved drive, and the catalog's
 * fragments on it. `volume` of `volumes` says where this volume comes in
 * the restore: the first one checks the target directory is usable as the
 * operator asked; the last one of several sets the modes and times of the
 * directories that earlier volumes restored (later volumes wrote into them).
 */
export const TapeReadTarget = z
  .object({
    drive: TapeDriveAccess,
    mediaId: MediaId,
    volume: z.number().int().min(1),
    volumes: z.number().int().min(1),
    fragments: z.array(z.number().int().positive()).min(1),
    /**
     * What the job's earlier volumes read (a later volume's Read): their bytes
     * and the job's throughput series so far, which this Read's series goes on
     * from, so the job's chart covers every volume (the job record keeps only
     * the series each report sends whole). At most MAX_THROUGHPUT_SAMPLES
     * points: under 4 KB of the command.
     */
    before: z.object({ bytes: z.number().int().min(0), samples: z.array(ThroughputSample).max(MAX_THROUGHPUT_SAMPLES) }).strict().optional(),
  })
  .strict();
export type TapeReadTarget = z.output<typeof TapeReadTarget>;

/**
 * Take a library's inventory on the host it is attached to (vmupdate's
 * robot read): the agent reads the changer's slots, drives and mail slots
 * with their barcodes, and reports them; the media manager is updated by
 * whoever sent the command (`cairn --aws robot inventory`, with
 * core/media/inventory.ts), so the agent never writes the media database.
 */
export const InventoryTask = z.object({ robot: TapeRobotAccess }).strict();
export type InventoryTask = z.output<typeof InventoryTask>;

const SlotReportSchema = z.object({ slot: z.number().int().min(0), barcode: z.string().optional(), full: z.boolean().optional() }).strict();

/** What the agent reports (core/media/inventory.ts InventoryReport, checked as it comes back through SSM). */
export const InventoryResult = z
  .object({
    robot: Name,
    report: z
      .object({
        slots: z.array(SlotReportSchema),
        drives: z.array(z.object({ index: z.number().int().min(0), barcode: z.string().optional(), full: z.boolean().optional(), sourceSlot: z.number().int().min(0).optional() }).strict()),
        importExport: z.array(SlotReportSchema).optional(),
      })
      .strict(),
  })
  .strict();
export type InventoryResult = z.output<typeof InventoryResult>;
