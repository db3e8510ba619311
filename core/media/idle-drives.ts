import type { Drive, Media } from '../model/tape-media.ts';
import type { StorageUnit } from '../model/storage-unit.ts';

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
