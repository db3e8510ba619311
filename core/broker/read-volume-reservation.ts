import type { Image } from '../model/image.ts';
import type { Job } from '../model/job.ts';
import type { ResourceKind } from '../model/resource-request.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { TapeReadTarget } from '../model/tape-task.ts';
import { tapeImageOf } from '../jobs/restore-job.ts';
import { chooseDrive, inUseBy } from '../media/volume-choice.ts';
import { loadSettings } from '../settings.ts';
import { jobAgentInstance } from './tape-agent.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { resourceRetrySeconds, waitingSince } from './resource-retry.ts';
import { IN_PROCESS_AGENT, type BrokerDeps } from './broker.ts';
import { tapeGrant, type TapeGrant } from './tape-choice.ts';
import { withDrive } from '../jobs/job-drives.ts';

/** A job that reads a tape image volume by volume: a restore job, a verify job. */
export type VolumeReadingJob = Extract<Job, { type: 'restore' | 'verify' }>;

export type ReadVolumeDecision =
  /** Granted: Mount and Unmount (read only: the volume is never labelled), and where the Read reads. */
  | { granted: true; agentInstanceId: string; mediaId: string; tape: Omit<TapeGrant, 'target'>; image: Image; unit: StorageUnit; target: TapeReadTarget }
  | { granted: false; reason: string; retryAfterSeconds: number };

const WAITING_FOR: Record<ResourceKind, string> = { 'storage-unit-slot': 'storage unit slot', drive: 'drive', volume: 'volume' };

/**
 * nbrb for one volume of a job that reads a tape image (a restore job's or
 * a verify job's Reserve state): a drive of the unit's robot (the one
 * holding the volume first, then an empty one, ...: `chooseDrive`) and the
 * volume, reserved together in one step under the job, so no backup writes
 * the volume or takes the drive while it is read. No storage-unit slot: a
 * read writes nothing to the unit, as NetBackup's restores and verifies do
 * not count against Maximum Concurrent Jobs.
 *
 * Not granted, the job shows why it waits ("waiting for drive: all 2
 * drives busy", "waiting for volume: CRN001L6 is in use by job 7") and
 * asks again after the usual backoff; a read has no window, so it waits
 * until the drive is free or an administrator cancels it. A job that ended
 * (cancelled) is refused with its status. A retried step that already
 * holds the drive and this volume is granted them again.
 *
 * Granted, the job turns ACTIVE (on its first volume) and the grant carries
 * the Mount (label: false, never written: a read), the two Unmounts, and
 * where the Read reads: the volume, the drive, the catalog's fragments on it.
 * `agentClient` is the client whose agent runs the steps (tape-agent.ts: the
 * robot's host must serve it; 219, 48).
 */
export async function reserveReadVolume(
  deps: BrokerDeps,
  read: { job: VolumeReadingJob; backupId: string; agentClient: string; volumes: ReadonlyArray<{ mediaId: string; fragments: number[] }>; index: number; copyNumber?: number },
  now: Date,
): Promise<ReadVolumeDecision> {
  const { job, index } = read;
  const jobId = job.jobId;
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before volume ${index + 1} was reserved`);
  const volume = read.volumes[index];
  if (!volume) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${jobId} has no volume ${index + 1} to read (it has ${read.volumes.length})`);
  if (!deps.emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `job ${jobId} reads tape, and this broker has no media manager to choose a drive`);
  const { image, storageUnit } = await tapeImageOf(deps, read.backupId, read.copyNumber);
  const unit = await deps.config.getStorageUnit(storageUnit);
  if (unit?.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${storageUnit} is not a tape unit`);
  const robot = await deps.emm.getRobot(unit.robot);
  if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
  const media = await deps.emm.getMedia(volume.mediaId);
  if (!media || media.robot !== robot.name || media.slot === undefined) {
    throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${volume.mediaId} is not in robot ${robot.name}${media?.robot ? ` (it is in ${media.robot})` : ''}: put it in the library and run an inventory`);
  }
  const agentInstanceId = deps.agents === 'managed-instances' ? await jobAgentInstance(deps, { client: read.agentClient }, undefined, unit) : IN_PROCESS_AGENT;

  const wait = async (kind: ResourceKind, why: string): Promise<ReadVolumeDecision> => {
    const reason = `waiting for ${WAITING_FOR[kind]}: ${why}`;
    const settings = await loadSettings(deps.config);
    await deps.jobs.update(jobId, (j) => ({ ...j, waitingReason: reason, updatedAt: now.toISOString() }), { expectedStates: ['QUEUED', 'ACTIVE'] });
    const waited = (now.getTime() - waitingSince(job).getTime()) / 1000;
    return { granted: false, reason, retryAfterSeconds: resourceRetrySeconds(settings.resourceRetrySeconds, waited) };
  };

  const reservations = await deps.media.listReservations();
  const inUse = inUseBy(reservations, jobId);
  const holder = reservations.find((r) => r.kind === 'volume' && r.mediaId === media.mediaId && r.jobId !== jobId);
  const drives = await deps.emm.listDrives(robot.name);
  if (holder) {
    // The holder of an idle unload (core/media/idle-unload.ts) is no job: name the unload instead.
    const unloading = drives.find((d) => d.unloading?.holder === holder.jobId);
    return wait('volume', unloading ? `volume ${media.mediaId} is being unloaded from drive ${unloading.name} (idle past its unmount delay)` : `volume ${media.mediaId} is in use by job ${holder.jobId}`);
  }
  const held = reservations.find((r) => r.jobId === jobId && r.kind === 'drive');
  const heldDrive = held?.kind === 'drive' ? drives.find((d) => d.name === held.drive) : undefined;
  const choice = heldDrive ? { chosen: true as const, drive: heldDrive, reason: `job ${jobId} holds drive ${heldDrive.name} already` } : chooseDrive(robot.name, media.mediaId, drives, inUse);
  if (!choice.chosen) return wait('drive', choice.reason);
  const result = await deps.media.reserve({
    jobId,
    resources: [
      { kind: 'drive', storageUnit: unit.name, drive: choice.drive.name },
      { kind: 'volume', pool: media.pool, mediaId: media.mediaId },
    ],
    at: now,
  });
  if (!result.granted) return wait(result.refused.kind, result.reason);
  // ACTIVE from its first volume on, no longer waiting; the drive is listed among the job's drives (each volume may be read in another).
  const at = now.toISOString();
  const driveName = choice.drive.name;
  await deps.jobs.update(jobId, (j) => ({ ...j, state: 'ACTIVE', waitingReason: undefined, startedAt: j.startedAt ?? at, updatedAt: at, drives: withDrive(j.drives, driveName) }), { expectedStates: ['QUEUED', 'ACTIVE'] });

  const grant = tapeGrant(jobId, unit, { robot, drives, drive: choice.drive, media, fromScratch: false, reason: choice.reason });
  // A read: never label, whatever the media manager's record says (a volume holding images is not blank).
  const mount = { ...grant.mount, task: { ...grant.mount.task, volume: { ...grant.mount.task.volume, label: false } } };
  return {
    granted: true,
    agentInstanceId,
    mediaId: media.mediaId,
    tape: { mount, afterSuccess: grant.afterSuccess, afterFailure: grant.afterFailure },
    image,
    unit,
    target: { drive: grant.target.drive, mediaId: media.mediaId, volume: index + 1, volumes: read.volumes.length, fragments: volume.fragments, ...readBefore(job, index) },
  };
}

/**
 * A later volume's Read goes on from what the earlier ones read: their bytes
 * (the job's progress, which each RecordRead sets to the sum of the volumes
 * read) and the job's throughput series so far. None for the first volume.
 */
function readBefore(job: VolumeReadingJob, index: number): Pick<TapeReadTarget, 'before'> {
  if (index === 0) return {};
  return { before: { bytes: job.progress.bytes, samples: job.progress.samples ?? [] } };
}
