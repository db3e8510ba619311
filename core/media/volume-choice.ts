import { byCodePoint } from '../code-point-order.ts';
import { SCRATCH_POOL, type Drive, type Media } from '../model/tape-media.ts';
import type { Reservation } from '../model/resource-request.ts';

/** What the broker asks for a job that writes: a volume of `pool` in `robot`, for images kept `retentionDays`. */
export interface VolumeNeed {
  robot: string;
  pool: string;
  retentionDays: number;
  /** NetBackup's "allow multiple retentions per media": any ACTIVE volume of the pool may be appended to. */
  allowMixedRetention?: boolean;
}

/** Resources other jobs hold now (the broker's reservations): never chosen. */
export interface InUse {
  mediaIds: ReadonlySet<string>;
  drives: ReadonlySet<string>;
}

/** The drives and volumes held by jobs other than `jobId`, from the broker's reservations (MediaStore.listReservations). */
export function inUseBy(reservations: readonly Reservation[], jobId?: number): InUse {
  const others = reservations.filter((r) => r.jobId !== jobId);
  return {
    mediaIds: new Set(others.flatMap((r) => (r.kind === 'volume' ? [r.mediaId] : []))),
    drives: new Set(others.flatMap((r) => (r.kind === 'drive' ? [r.drive] : []))),
  };
}

export type VolumeChoice =
  | { chosen: true; media: Media; fromScratch: boolean; reason: string }
  | { chosen: false; reason: string };

export type DriveChoice = { chosen: true; drive: Drive; reason: string } | { chosen: false; reason: string };

/** The drive a volume sits in, if it is in one the job could use (UP and not held by another job). */
function freeDriveOf(media: Media, drives: readonly Drive[], inUse: InUse): Drive | undefined {
  const drive = drives.find((d) => d.loaded?.mediaId === media.mediaId);
  return drive !== undefined && drive.state === 'UP' && !inUse.drives.has(drive.name) ? drive : undefined;
}

/**
 * NetBackup's volume choice for a write. A volume qualifies when it is in the
 * robot, not held by another job, not in a drive another job holds or that
 * is DOWN, and its state is writable (ACTIVE or UNASSIGNED: never FULL,
 * FROZEN or SUSPENDED). In order of preference:
 * 1. a partly written ACTIVE volume of the pool with the job's retention
 *    (any retention with `allowMixedRetention`): first one already in a free
 *    drive (no robot move), then the one with the most bytes written (fill a
 *    volume before starting another, so fewer are left partly written), then
 *    the most recently written, then by media id;
 * 2. a never-written volume labelled into the pool;
 * 3. a scratch volume, which the caller moves into the pool.
 * Within 2 and 3: one in a free drive first, then by media id.
 * Pure: `media` and `drives` are the media manager's records of the robot (or more), `inUse` the reservations.
 */
export function chooseVolume(need: VolumeNeed, media: readonly Media[], drives: readonly Drive[], inUse: InUse): VolumeChoice {
  const robotDrives = drives.filter((d) => d.robot === need.robot);
  const usable = (m: Media): boolean => {
    if (m.robot !== need.robot || inUse.mediaIds.has(m.mediaId)) return false;
    const drive = robotDrives.find((d) => d.loaded?.mediaId === m.mediaId);
    return drive === undefined || freeDriveOf(m, robotDrives, inUse) !== undefined;
  };
  const inFreeDrive = (m: Media): number => (freeDriveOf(m, robotDrives, inUse) === undefined ? 1 : 0);
  const byId = (a: Media, b: Media): number => byCodePoint(a.mediaId, b.mediaId);

  const ofPool = media.filter((m) => m.pool === need.pool && m.robot === need.robot);
  const active = ofPool
    .filter((m) => m.state === 'ACTIVE' && usable(m) && (need.allowMixedRetention || m.retentionDays === need.retentionDays))
    .sort((a, b) => inFreeDrive(a) - inFreeDrive(b) || b.bytesWritten - a.bytesWritten || byCodePoint(b.lastWrittenAt ?? '', a.lastWrittenAt ?? '') || byId(a, b));
  if (active[0]) {
    const m = active[0];
    return { chosen: true, media: m, fromScratch: false, reason: `volume ${m.mediaId} of pool ${need.pool} is ACTIVE with ${m.bytesWritten} bytes written, retention ${m.retentionDays ?? 'none'} days${inFreeDrive(m) === 0 ? ', already in a drive' : ''}` };
  }
  const fresh = ofPool.filter((m) => m.state === 'UNASSIGNED' && usable(m)).sort((a, b) => inFreeDrive(a) - inFreeDrive(b) || byId(a, b));
  if (fresh[0]) return { chosen: true, media: fresh[0], fromScratch: false, reason: `volume ${fresh[0].mediaId} of pool ${need.pool} was never written` };
  if (need.pool !== SCRATCH_POOL) {
    const scratch = media
      .filter((m) => m.pool === SCRATCH_POOL && m.state === 'UNASSIGNED' && usable(m))
      .sort((a, b) => inFreeDrive(a) - inFreeDrive(b) || byId(a, b));
    if (scratch[0]) return { chosen: true, media: scratch[0], fromScratch: true, reason: `pool ${need.pool} has no writable volume: scratch volume ${scratch[0].mediaId} moves into it` };
  }
  return { chosen: false, reason: whyNoVolume(need, ofPool, usable) };
}

/** The precise "why not": what the pool's volumes are, and that scratch is empty. */
function whyNoVolume(need: VolumeNeed, ofPool: readonly Media[], usable: (m: Media) => boolean): string {
  const busy = ofPool.filter((m) => (m.state === 'ACTIVE' || m.state === 'UNASSIGNED') && !usable(m)).length;
  const otherRetention = ofPool.filter((m) => m.state === 'ACTIVE' && usable(m) && m.retentionDays !== need.retentionDays).length;
  const held = ofPool.filter((m) => m.state === 'FULL' || m.state === 'FROZEN' || m.state === 'SUSPENDED');
  const details = [
    ...(busy > 0 ? [`${busy} in use by other jobs`] : []),
    ...(otherRetention > 0 ? [`${otherRetention} ACTIVE with another retention than ${need.retentionDays} days`] : []),
    ...(['FULL', 'FROZEN', 'SUSPENDED'] as const).flatMap((state) => {
      const n = held.filter((m) => m.state === state).length;
      return n > 0 ? [`${n} ${state}`] : [];
    }),
  ];
  const scratch = need.pool === SCRATCH_POOL ? '' : ' and scratch is empty';
  return `pool ${need.pool} has no writable volume in robot ${need.robot}${scratch}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

/**
 * The drive for a volume: an UP drive of the robot no other job holds.
 * Preferred: the drive the volume is in already (no robot move), then an
 * empty drive, then one holding another volume (it is unloaded first), the
 * one least recently used. The reason of a refusal names every drive's
 * obstacle: "all 2 drives busy", "drive d1 is DOWN (...), drive d2 is busy",
 * "drive d1 is unloading volume CRN002 (idle past its unmount delay)".
 */
export function chooseDrive(robot: string, mediaId: string | undefined, drives: readonly Drive[], inUse: InUse): DriveChoice {
  const ofRobot = drives.filter((d) => d.robot === robot).sort((a, b) => a.index - b.index);
  if (ofRobot.length === 0) return { chosen: false, reason: `robot ${robot} has no drives` };
  const free = ofRobot.filter((d) => d.state === 'UP' && !inUse.drives.has(d.name));
  const loadedWith = free.find((d) => mediaId !== undefined && d.loaded?.mediaId === mediaId);
  if (loadedWith) return { chosen: true, drive: loadedWith, reason: `drive ${loadedWith.name} has volume ${mediaId} loaded already` };
  const empty = free.find((d) => d.loaded === undefined);
  if (empty) return { chosen: true, drive: empty, reason: `drive ${empty.name} is empty` };
  const other = [...free].sort((a, b) => byCodePoint(a.lastUsedAt ?? '', b.lastUsedAt ?? '') || a.index - b.index)[0];
  if (other) return { chosen: true, drive: other, reason: `drive ${other.name} is free; volume ${other.loaded!.mediaId} is unloaded from it first` };
  // An idle drive being unloaded (the cloud scheduler's, core/media/idle-unload.ts) is held by no job: say what it is doing.
  const obstacle = (d: Drive): string | undefined =>
    d.state === 'DOWN' ? `drive ${d.name} is DOWN${d.downReason ? ` (${d.downReason})` : ''}` : d.unloading ? `drive ${d.name} is unloading volume ${d.unloading.mediaId} (idle past its unmount delay)` : undefined;
  if (ofRobot.every((d) => obstacle(d) === undefined)) return { chosen: false, reason: `all ${ofRobot.length} drive${ofRobot.length === 1 ? '' : 's'} busy` };
  return { chosen: false, reason: ofRobot.map((d) => obstacle(d) ?? `drive ${d.name} is busy`).join(', ') };
}

export type TapeChoice =
  | { chosen: true; media: Media; drive: Drive; fromScratch: boolean; reason: string }
  | { chosen: false; waitingFor: 'drive' | 'volume'; reason: string };

/**
 * A write's drive and volume together (what the broker reserves in one
 * step). The drive is asked first: with every drive busy or DOWN there is no
 * point naming a volume, and the wait reason is the drives'.
 */
export function chooseTapeResources(need: VolumeNeed, media: readonly Media[], drives: readonly Drive[], inUse: InUse): TapeChoice {
  const anyDrive = chooseDrive(need.robot, undefined, drives, inUse);
  if (!anyDrive.chosen) return { chosen: false, waitingFor: 'drive', reason: anyDrive.reason };
  const volume = chooseVolume(need, media, drives, inUse);
  if (!volume.chosen) return { chosen: false, waitingFor: 'volume', reason: volume.reason };
  const drive = chooseDrive(need.robot, volume.media.mediaId, drives, inUse);
  if (!drive.chosen) return { chosen: false, waitingFor: 'drive', reason: drive.reason };
  return { chosen: true, media: volume.media, drive: drive.drive, fromScratch: volume.fromScratch, reason: `${volume.reason}; ${drive.reason}` };
}
