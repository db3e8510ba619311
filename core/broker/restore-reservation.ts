import type { RestoreCommand } from '../model/agent-command.ts';
import type { RestoreJob } from '../model/job.ts';
import type { ResourceKind } from '../model/resource-request.ts';
import { getJobOfKind, updateJobOfKind } from '../jobs/job-of-kind.ts';
import { tapeImageOf } from '../jobs/restore-job.ts';
import { chooseDrive, inUseBy } from '../media/volume-choice.ts';
import { loadSettings } from '../settings.ts';
import { jobAgentInstance } from './tape-agent.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { resourceRetrySeconds, waitingSince } from './resource-retry.ts';
import { IN_PROCESS_AGENT, type BrokerDeps } from './broker.ts';
import { tapeGrant, type TapeGrant } from './tape-choice.ts';

export type RestoreReserveDecision =
  /** Granted: Mount and Unmount (read only: the volume is never labelled), and the Read command for the agent. */
  | { granted: true; agentInstanceId: string; mediaId: string; tape: Omit<TapeGrant, 'target'>; read: RestoreCommand }
  | { granted: false; reason: string; retryAfterSeconds: number };

const WAITING_FOR: Record<ResourceKind, string> = { 'storage-unit-slot': 'storage unit slot', drive: 'drive', volume: 'volume' };

/**
 * nbrb for one volume of a tape restore (the restore job's Reserve state):
 * a drive of the unit's robot (the one holding the volume first, then an
 * empty one, ...: `chooseDrive`) and the volume, reserved together in one
 * step under the restore job, so no backup writes the volume or takes the
 * drive while it is read. No storage-unit slot: a restore writes nothing
 * to the unit, as NetBackup's restores do not count against Maximum
 * Concurrent Jobs.
 *
 * Not granted, the job shows why it waits ("waiting for drive: all 2
 * drives busy", "waiting for volume: CRN001L6 is in use by job 7") and
 * asks again after the usual backoff; a restore has no window, so it waits
 * until the drive is free or an administrator cancels it. A job that ended
 * (cancelled) is refused with its status. A retried step that already
 * holds the drive and this volume is granted them again.
 *
 * Granted, the job turns ACTIVE (on its first volume) and the grant carries
 * the Mount (label: false, never written: a read), the two Unmounts, and
 * the Read command: the volume, the drive, and the catalog's fragments on it.
 */
export async function reserveRestoreVolume(deps: BrokerDeps, jobId: number, index: number, now: Date): Promise<RestoreReserveDecision> {
  const job = await getJobOfKind(deps.jobs, jobId, 'restore');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before volume ${index + 1} was reserved`);
  const volume = job.volumes[index];
  if (!volume) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${jobId} has no volume ${index + 1} to read (it has ${job.volumes.length})`);
  if (!('backupId' in job.source)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId} restores a point in time; a restore job reads one tape image`);
  if (!deps.emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `job ${jobId} reads tape, and this broker has no media manager to choose a drive`);
  const { image, storageUnit } = await tapeImageOf(deps, job.source.backupId);
  const unit = await deps.config.getStorageUnit(storageUnit);
  if (unit?.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${storageUnit} is not a tape unit`);
  const robot = await deps.emm.getRobot(unit.robot);
  if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
  const media = await deps.emm.getMedia(volume.mediaId);
  if (!media || media.robot !== robot.name || media.slot === undefined) {
    throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${volume.mediaId} is not in robot ${robot.name}${media?.robot ? ` (it is in ${media.robot})` : ''}: put it in the library and run an inventory`);
  }
  // Mount, Read and Unmount run on the robot's host, which must serve the target client (tape-agent.ts: 219, 48).
  const agentInstanceId = deps.agents === 'managed-instances' ? await jobAgentInstance(deps, { client: job.target.client }, undefined, unit) : IN_PROCESS_AGENT;

  const wait = async (kind: ResourceKind, why: string): Promise<RestoreReserveDecision> => {
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
  await updateJobOfKind(deps.jobs, jobId, 'restore', (j) => startedOn(j, now), { expectedStates: ['QUEUED', 'ACTIVE'] });

  const grant = tapeGrant(jobId, unit, { robot, drives, drive: choice.drive, media, fromScratch: false, reason: choice.reason });
  // A read: never label, whatever the media manager's record says (a volume holding images is not blank).
  const mount = { ...grant.mount, task: { ...grant.mount.task, volume: { ...grant.mount.task.volume, label: false } } };
  return {
    granted: true,
    agentInstanceId,
    mediaId: media.mediaId,
    tape: { mount, afterSuccess: grant.afterSuccess, afterFailure: grant.afterFailure },
    read: {
      kind: 'restore',
      task: {
        jobId,
        client: job.client,
        source: job.source,
        target: job.target,
        paths: job.paths,
        continueOnError: job.continueOnError,
        images: [{ image, storageUnit: unit }],
        tape: { drive: grant.target.drive, mediaId: media.mediaId, volume: index + 1, volumes: job.volumes.length, fragments: volume.fragments },
      },
    },
  };
}

/** The job as its volume is granted: ACTIVE from its first volume on, no longer waiting. */
function startedOn(job: RestoreJob, now: Date): RestoreJob {
  const at = now.toISOString();
  return { ...job, state: 'ACTIVE', waitingReason: undefined, startedAt: job.startedAt ?? at, updatedAt: at };
}
