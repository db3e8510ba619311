import type { MountCommand, UnmountCommand } from '../model/agent-command.ts';
import type { BackupJob } from '../model/job.ts';
import type { RequestedResource, Reservation } from '../model/resource-request.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import { SCRATCH_POOL, type Drive, type Media, type Robot } from '../model/tape-media.ts';
import type { TapeDriveAccess, TapeRobotAccess, TapeTarget, TapeVolumeAccess } from '../model/tape-task.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { inUseBy } from '../media/volume-choice.ts';
import { chooseAvoidingSuspects } from '../media/suspect-volumes.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

export type TapeUnit = Extract<StorageUnit, { kind: 'tape' }>;

/** What the broker chose for a tape job, before it reserves it. */
export interface TapePlan {
  robot: Robot;
  drives: Drive[];
  drive: Drive;
  media: Media;
  /** The volume is in scratch: it moves into the unit's pool once the reservation is granted. */
  fromScratch: boolean;
  reason: string;
}

export type TapePlanResult = { chosen: true; plan: TapePlan } | { chosen: false; waitingFor: 'drive' | 'volume'; reason: string };

/**
 * nbrb's choice for a tape job (core/media/volume-choice.ts decides):
 * from the media manager's drives of the unit's robot, the volumes of its
 * pool and of scratch, and every current reservation (what other jobs
 * hold is never chosen). A job that already holds a drive and a volume (a
 * retried Reserve step) keeps them, so the request it asks again is the
 * one it holds. Volumes whose home slot is unknown cannot be loaded by
 * the robot and are left out.
 */
export async function planTapeResources(emm: MediaDatabase, reservations: readonly Reservation[], unit: TapeUnit, job: Pick<BackupJob, 'jobId' | 'retentionDays'>): Promise<TapePlanResult> {
  const robot = await emm.getRobot(unit.robot);
  if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
  const drives = await emm.listDrives(robot.name);
  const held = reservations.filter((r) => r.jobId === job.jobId);
  const heldDrive = held.find((r) => r.kind === 'drive');
  const heldVolume = held.find((r) => r.kind === 'volume');
  if (heldDrive && heldVolume) {
    const drive = drives.find((d) => d.name === heldDrive.drive);
    const media = await emm.getMedia(heldVolume.mediaId);
    if (drive && media) return { chosen: true, plan: { robot, drives, drive, media, fromScratch: media.pool === SCRATCH_POOL && unit.pool !== SCRATCH_POOL, reason: `job ${job.jobId} holds drive ${drive.name} and volume ${media.mediaId} already` } };
  }
  const media = [...(await emm.listMedia({ pool: unit.pool, robot: robot.name })), ...(unit.pool === SCRATCH_POOL ? [] : await emm.listMedia({ pool: SCRATCH_POOL, robot: robot.name }))].filter(
    (m) => m.slot !== undefined && m.slot >= 1,
  );
  // A retry after a tape error is given another volume than the one that failed the job (suspect-volumes.ts).
  const choice = chooseAvoidingSuspects(job.jobId, { robot: robot.name, pool: unit.pool, retentionDays: job.retentionDays }, media, drives, inUseBy(reservations, job.jobId));
  if (!choice.chosen) return choice;
  return { chosen: true, plan: { robot, drives, drive: choice.drive, media: choice.media, fromScratch: choice.fromScratch, reason: choice.reason } };
}

/** The resources of a tape job, reserved in one transaction: a slot of the unit, the named drive, the named volume. */
export function tapeResources(unit: TapeUnit, plan: TapePlan): RequestedResource[] {
  return [
    { kind: 'storage-unit-slot', storageUnit: unit.name, maxConcurrentJobs: unit.maxConcurrentJobs },
    { kind: 'drive', storageUnit: unit.name, drive: plan.drive.name },
    { kind: 'volume', pool: unit.pool, mediaId: plan.media.mediaId },
  ];
}

/** What the Mount, Stream and Unmount steps of a granted tape job are told (`$.reservation.tape`, `BackupTask.tape`). */
export interface TapeGrant {
  target: TapeTarget;
  mount: MountCommand;
  /** Unmount after a job that succeeded: keeps the volume loaded when the unit's mediaUnmountDelaySeconds > 0. */
  afterSuccess: UnmountCommand;
  /** Unmount after a job that failed: always unloads (the drive is left with nothing a failed job may have confused). */
  afterFailure: UnmountCommand;
}

/** The Mount state's TimeoutSeconds (backup-job.asl.json): how long the next volume's Mount may take. */
const MOUNT_SECONDS = 3600;

/**
 * How long a backup whose volume filled waits for the next one on the agent
 * (`TapeTarget.spanWaitSeconds`): the media mount timeout, within which the
 * broker grants a volume or fails the job, and the time its Mount may take.
 */
export function spanWaitSeconds(settings: { mediaMountTimeoutSeconds: number }): number {
  return settings.mediaMountTimeoutSeconds + MOUNT_SECONDS;
}

/**
 * The agent's side of the grant. The append point is the media manager's
 * `tapeFiles` (1 at least: file 0 is the label); a volume never written
 * (UNASSIGNED with no tape file) is labelled by Mount. `spanWait`: the
 * target's `spanWaitSeconds`.
 */
export function tapeGrant(jobId: number, unit: TapeUnit, plan: TapePlan, spanWait?: number): TapeGrant {
  const { robot, drives, drive, media } = plan;
  if (media.slot === undefined) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${media.mediaId} has no home slot in robot ${robot.name}`);
  const robotAccess: TapeRobotAccess = { name: robot.name, changer: robot.changer, drives: drives.map((d) => ({ index: d.index, path: d.path })) };
  const driveAccess: TapeDriveAccess = {
    name: drive.name,
    index: drive.index,
    path: drive.path,
    blockSize: drive.blockSize,
    ...(robot.fileTapeCapacityBytes === undefined ? {} : { fileTapeCapacityBytes: robot.fileTapeCapacityBytes }),
  };
  const volume: TapeVolumeAccess = { mediaId: media.mediaId, slot: media.slot, pool: unit.pool, appendFile: Math.max(1, media.tapeFiles), label: media.state === 'UNASSIGNED' && media.tapeFiles === 0 };
  const unmount = (keepLoaded: boolean): UnmountCommand => ({ kind: 'unmount', task: { jobId, robot: robotAccess, drive: driveAccess, mediaId: media.mediaId, slot: media.slot!, keepLoaded } });
  return {
    target: { drive: driveAccess, volume, ...(spanWait === undefined ? {} : { spanWaitSeconds: spanWait }) },
    mount: { kind: 'mount', task: { jobId, robot: robotAccess, drive: driveAccess, volume } },
    afterSuccess: unmount(unit.mediaUnmountDelaySeconds > 0),
    afterFailure: unmount(false),
  };
}
