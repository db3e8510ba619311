import type { Drive, Media } from '../model/tape-media.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';

type TapeUnit = Extract<StorageUnit, { kind: 'tape' }>;

/** A drive kept loaded past its unmount delay, and which unit's delay it was kept for. */
export interface IdleDrive {
  drive: string;
  robot: string;
  mediaId: string;
  /** The tape unit whose `mediaUnmountDelaySeconds` applies (the longest of the robot's units for the volume's pool); undefined when none writes that pool any more. */
  storageUnit?: string;
  delaySeconds: number;
  /** Seconds since a job last used the drive (its `lastUsedAt`, else since the volume was loaded). */
  idleSeconds: number;
}

/**
 * Which drives to unload now (ltid's media unmount delay): a drive the
 * media manager records as holding a volume, held by no job (`heldDrives`:
 * the drive names of current reservations), idle for at least the delay of
 * the tape unit it was kept loaded for. That unit is one of the drive's
 * robot whose pool is the volume's pool (the longest delay when several
 * are); when no unit writes that pool any more nothing will use the volume
 * there, and the delay is 0. DOWN drives are left alone: the operator took
 * them out of service, and the robot may not reach them.
 *
 * Pure: time is `now`; the caller (the scheduler tick) reserves each drive
 * before it unloads it and decides again on the fresh record, since a job
 * may take the drive between this decision and the robot's move.
 */
export function drivesIdlePastDelay(input: {
  drives: readonly Drive[];
  units: readonly StorageUnit[];
  media: readonly Pick<Media, 'mediaId' | 'pool'>[];
  heldDrives: ReadonlySet<string>;
  now: Date;
}): IdleDrive[] {
  const tapeUnits = input.units.filter((u): u is TapeUnit => u.kind === 'tape');
  const poolOf = new Map(input.media.map((m) => [m.mediaId, m.pool]));
  const idle: IdleDrive[] = [];
  for (const drive of input.drives) {
    if (!drive.loaded || drive.state !== 'UP' || input.heldDrives.has(drive.name)) continue;
    const pool = poolOf.get(drive.loaded.mediaId);
    const unit = tapeUnits.filter((u) => u.robot === drive.robot && u.pool === pool).sort((a, b) => b.mediaUnmountDelaySeconds - a.mediaUnmountDelaySeconds)[0];
    const delaySeconds = unit?.mediaUnmountDelaySeconds ?? 0;
    const since = Date.parse(drive.lastUsedAt ?? drive.loaded.since);
    const idleSeconds = Math.max(0, (input.now.getTime() - since) / 1000);
    if (idleSeconds < delaySeconds) continue;
    idle.push({ drive: drive.name, robot: drive.robot, mediaId: drive.loaded.mediaId, ...(unit ? { storageUnit: unit.name } : {}), delaySeconds, idleSeconds });
  }
  return idle;
}

/**
 * The first step of unloading an idle drive, in both runtimes: the drive and
 * its volume reserved under a fresh job id that no job will ever have
 * (`JobStore.nextJobId`), atomically against the broker's reservations (a
 * job that got there first keeps the drive), then the decision taken again
 * on the fresh drive record (a job that used the drive since the listing
 * reset its idle time; a drive `unloading` already is left alone).
 * Resolves with the holder and the fresh records, the reservation held (the
 * caller releases it); undefined when the drive is no longer idle, with
 * nothing held.
 */
export async function holdIdleDrive(
  deps: { jobs: Pick<JobStore, 'nextJobId'>; media: Pick<MediaStore, 'reserve' | 'release'>; emm: Pick<MediaDatabase, 'listDrives'> },
  target: { idle: IdleDrive; unitName: string; robot: string; media: Media; units: readonly StorageUnit[] },
  now: Date,
): Promise<{ holder: number; drives: Drive[]; drive: Drive } | undefined> {
  const { idle, media } = target;
  const holder = await deps.jobs.nextJobId();
  const granted = await deps.media.reserve({
    jobId: holder,
    resources: [
      { kind: 'drive', storageUnit: target.unitName, drive: idle.drive },
      { kind: 'volume', pool: media.pool, mediaId: media.mediaId },
    ],
    at: now,
  });
  if (!granted.granted) return undefined;
  try {
    const drives = await deps.emm.listDrives(target.robot);
    const drive = drives.find((d) => d.name === idle.drive);
    const still = drive && !drive.unloading && drivesIdlePastDelay({ drives: [drive], units: target.units, media: [media], heldDrives: new Set(), now }).some((d) => d.mediaId === idle.mediaId);
    if (drive && still) return { holder, drives, drive };
  } catch (error) {
    await deps.media.release(holder);
    throw error;
  }
  await deps.media.release(holder);
  return undefined;
}
