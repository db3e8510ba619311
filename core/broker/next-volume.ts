import type { ContinueBackupCommand } from '../model/agent-command.ts';
import { SCRATCH_POOL, isWritableState, type Media } from '../model/tape-media.ts';
import type { VolumeFullOutcome } from '../model/tape-task.ts';
import { getJobOfKind, updateJobOfKind } from '../jobs/job-of-kind.ts';
import { chooseVolume, inUseBy } from '../media/volume-choice.ts';
import { loadSettings } from '../settings.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { resourceRetrySeconds } from './resource-retry.ts';
import { spanWaitSeconds, tapeGrant, type TapeGrant } from './tape-choice.ts';
import type { BrokerDeps } from './broker.ts';

export type NextVolumeDecision =
  /**
   * Granted: the job holds the next volume (in place of the full one). `tape`
   * replaces the grant's Mount and Unmount commands (`$.reservation.tape`):
   * the same drive, the new volume; `continue` is the command that hands the
   * waiting backup its new target.
   */
  | { granted: true; mediaId: string; tape: Omit<TapeGrant, 'target'>; continue: ContinueBackupCommand }
  | { granted: false; reason: string; retryAfterSeconds: number };

/**
 * Spanning, the broker's part (nbrb at end of media): the job's volume
 * `full.mediaId` reached end of media and the backup waits. In order, each
 * step idempotent so a retried ReserveNextVolume does no harm:
 *
 * 1. The full volume is recorded FULL in the media manager (a FROZEN or
 *    SUSPENDED one keeps its hold), with its mount when the drive was not
 *    recorded holding it (as Release does for the last volume). What the job
 *    wrote on it is counted when the image is catalogued (tape-writes.ts),
 *    like any volume's: fragments of a job that fails are never counted.
 * 2. The next volume of the unit's pool is chosen by the same rules as a
 *    first one (volume-choice.ts: an ACTIVE volume with the job's retention,
 *    a never-written one, then scratch), leaving out volumes loaded in
 *    another drive (the job keeps its drive, and a cartridge in another drive
 *    is not in its slot to be loaded). It is taken in place of the full one
 *    in ONE `MediaStore.exchangeVolume`: the job keeps its slot and drive.
 *    A scratch volume moves into the pool once granted. A job that holds a
 *    volume other than `full` already (a retried step) keeps it.
 * 3. No volume (or a lost race): the job shows why (`waiting for volume:
 *    ...`, while ACTIVE) and asks again after a back-off, until the media
 *    mount timeout (`mediaMountTimeoutSeconds` from `full.fullAt`) or its
 *    window's end, whichever comes first; then it fails with 96.
 *
 * The job's `volumes` lists each volume granted, in order.
 */
export async function reserveNextVolume(deps: BrokerDeps, jobId: number, full: VolumeFullOutcome, now: Date): Promise<NextVolumeDecision> {
  const job = await getJobOfKind(deps.jobs, jobId, 'backup');
  if (job.state !== 'ACTIVE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} is ${job.state}, not writing: it gets no next volume`);
  if (full.jobId !== jobId) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the volume-full outcome of job ${full.jobId} was given to job ${jobId}`);
  const unit = await deps.config.getStorageUnit(job.storageUnit);
  if (unit?.kind !== 'tape') throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `job ${jobId}: storage unit ${job.storageUnit} is not a tape unit, so it has no next volume`);
  const emm = deps.emm;
  if (!emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `storage unit ${unit.name} is a tape unit, and this broker has no media manager to choose its next volume`);
  const settings = await loadSettings(deps.config);

  const reservations = await deps.media.listReservations();
  const held = reservations.filter((r) => r.jobId === jobId);
  const heldDrive = held.find((r) => r.kind === 'drive');
  const heldVolume = held.find((r) => r.kind === 'volume');
  if (!heldDrive || !heldVolume) throw new CairnError(StatusCode.INTERNAL_ERROR, `job ${jobId} holds no drive and volume (it holds ${held.length} resources): it cannot be given a next volume`);
  const robot = await emm.getRobot(unit.robot);
  if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
  const drives = await emm.listDrives(robot.name);
  const drive = drives.find((d) => d.name === heldDrive.drive);
  if (!drive) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `job ${jobId} holds drive ${heldDrive.drive}, which robot ${robot.name} no longer has`);

  let next: Media | undefined;
  let fromScratch = false;
  if (heldVolume.mediaId !== full.mediaId) {
    // A retried step: the exchange was made.
    next = await emm.getMedia(heldVolume.mediaId);
    if (!next) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${jobId} holds volume ${heldVolume.mediaId}, which the media manager no longer has`);
    fromScratch = next.pool === SCRATCH_POOL && unit.pool !== SCRATCH_POOL;
  } else {
    await recordFull(emm, full.mediaId, drive.name, drive.loaded?.mediaId, now);
    const otherDrives = new Set(drives.filter((d) => d.name !== drive.name && d.loaded !== undefined).map((d) => d.loaded!.mediaId));
    const media = [...(await emm.listMedia({ pool: unit.pool, robot: robot.name })), ...(unit.pool === SCRATCH_POOL ? [] : await emm.listMedia({ pool: SCRATCH_POOL, robot: robot.name }))].filter(
      (m) => m.slot !== undefined && m.slot >= 1 && !otherDrives.has(m.mediaId),
    );
    const choice = chooseVolume({ robot: robot.name, pool: unit.pool, retentionDays: job.retentionDays }, media, drives, inUseBy(reservations, jobId));
    if (!choice.chosen) return waitForVolume(deps, job, full, now, settings, choice.reason);
    const exchanged = await deps.media.exchangeVolume({ jobId, from: full.mediaId, to: { pool: unit.pool, mediaId: choice.media.mediaId }, at: now });
    if (!exchanged.granted) return waitForVolume(deps, job, full, now, settings, exchanged.reason);
    next = choice.media;
    fromScratch = choice.fromScratch;
  }
  if (fromScratch && next.pool !== unit.pool) next = await emm.label(next.mediaId, unit.pool);

  const grant = tapeGrant(jobId, unit, { robot, drives, drive, media: next, fromScratch, reason: `volume ${full.mediaId} is full` }, spanWaitSeconds(settings));
  const mediaId = next.mediaId;
  await updateJobOfKind(deps.jobs, jobId, 'backup', (j) => ({ ...j, volumes: j.volumes?.at(-1) === mediaId ? j.volumes : [...(j.volumes ?? []), mediaId], waitingReason: undefined, updatedAt: now.toISOString() }), {
    expectedStates: ['ACTIVE'],
  });
  return {
    granted: true,
    mediaId,
    tape: { mount: grant.mount, afterSuccess: grant.afterSuccess, afterFailure: grant.afterFailure },
    continue: { kind: 'continue-backup', task: { jobId, waiter: full.waiter, tape: grant.target } },
  };
}

/** FULL (idempotent), and its mount counted when the drive was not recorded holding it; the drive is recorded holding it until the next Mount. */
async function recordFull(emm: NonNullable<BrokerDeps['emm']>, mediaId: string, drive: string, loaded: string | undefined, now: Date): Promise<void> {
  if (loaded !== mediaId) {
    await emm.recordMount(mediaId, drive, now);
    await emm.setDriveLoaded(drive, mediaId, now);
  }
  await emm.updateMedia(mediaId, (m) => (isWritableState(m.state) ? { ...m, state: 'FULL' } : m.state === 'FROZEN' || m.state === 'SUSPENDED' ? { ...m, heldFrom: 'FULL' } : m));
}

/** No next volume now: the job says why and asks again, or fails with 96 once the media mount timeout or its window is over. */
async function waitForVolume(
  deps: BrokerDeps,
  job: { jobId: number; windowEnd?: string },
  full: VolumeFullOutcome,
  now: Date,
  settings: { mediaMountTimeoutSeconds: number; resourceRetrySeconds: number },
  why: string,
): Promise<NextVolumeDecision> {
  const fullAt = new Date(full.fullAt);
  const timeout = new Date(fullAt.getTime() + settings.mediaMountTimeoutSeconds * 1000);
  const windowEnd = job.windowEnd ? new Date(job.windowEnd) : undefined;
  const deadline = windowEnd && windowEnd < timeout ? windowEnd : timeout;
  if (now >= deadline) {
    const what = deadline === windowEnd ? `its window closed at ${job.windowEnd}` : `the media mount timeout (${settings.mediaMountTimeoutSeconds} s) passed`;
    // The job no longer waits: its error says what it waited for.
    await updateJobOfKind(deps.jobs, job.jobId, 'backup', (j) => ({ ...j, waitingReason: undefined, updatedAt: now.toISOString() }), { expectedStates: ['ACTIVE'] });
    throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${job.jobId}: volume ${full.mediaId} is full and ${what} with no next volume: ${why}`);
  }
  const reason = `waiting for volume: ${why} (volume ${full.mediaId} is full)`;
  await updateJobOfKind(deps.jobs, job.jobId, 'backup', (j) => ({ ...j, waitingReason: reason, updatedAt: now.toISOString() }), { expectedStates: ['ACTIVE'] });
  const waited = (now.getTime() - fullAt.getTime()) / 1000;
  const untilDeadline = Math.max(1, Math.ceil((deadline.getTime() - now.getTime()) / 1000));
  return { granted: false, reason, retryAfterSeconds: Math.min(resourceRetrySeconds(settings.resourceRetrySeconds, waited), untilDeadline) };
}
