import { NotFoundError, ValidationError } from '#core/errors.ts';
import { MediaState, type Drive, type Media } from '#core/model/tape-media.ts';
import type { MediaFilter } from '#core/ports/media-manager.ts';
import type { Reservation } from '#core/ports/media-store.ts';
import { matchesMediaFilter } from '#core/media/emm-database.ts';
import { poolRows, readStorageRecords, robotRows, storageUnitsInUse, type PoolRow, type RobotRow, type StorageUnitInUse } from '../storage-listing.ts';
import { HttpError } from './http-reply.ts';
import type { MonitorBackend } from './route.ts';

/**
 * What the Storage page reads beyond the CLI's listings: which job holds
 * each drive and volume now (the broker's reservations, what `cairn
 * storage-unit list` counts as IN USE), the media filter, and the body of a
 * drive-down action.
 */

/** A drive as `cairn drive list --json` gives it, and the job that holds it now. */
export type DriveView = Drive & { heldBy?: number };
/** A volume as `cairn media list --json` gives it, and the job that holds it now. */
export type MediaView = Media & { heldBy?: number };

function holders(reservations: Reservation[], kind: 'drive' | 'volume'): Map<string, number> {
  const held = new Map<string, number>();
  for (const r of reservations) {
    if (r.kind === 'drive' && kind === 'drive') held.set(r.drive, r.jobId);
    if (r.kind === 'volume' && kind === 'volume') held.set(r.mediaId, r.jobId);
  }
  return held;
}

const withHolder = <T extends object>(record: T, holder: number | undefined): T & { heldBy?: number } => (holder === undefined ? record : { ...record, heldBy: holder });

export function driveViews(drives: Drive[], reservations: Reservation[]): DriveView[] {
  const held = holders(reservations, 'drive');
  return drives.map((d) => withHolder(d, held.get(d.name)));
}

export async function showDrive(backend: MonitorBackend, name: string): Promise<DriveView> {
  const drive = await backend.emm.getDrive(name);
  if (drive === undefined) throw new NotFoundError('drive', name);
  return withHolder(drive, holders(await backend.media.listReservations(), 'drive').get(name));
}

export async function listMediaViews(backend: MonitorBackend, filter: MediaFilter): Promise<MediaView[]> {
  const [media, reservations] = await Promise.all([backend.emm.listMedia(filter), backend.media.listReservations()]);
  return mediaViews(media, filter, reservations);
}

/** The volumes `listMedia(filter)` lists, from every volume already read, with their holders. */
export function mediaViews(media: Media[], filter: MediaFilter, reservations: Reservation[]): MediaView[] {
  const held = holders(reservations, 'volume');
  return media.filter((m) => matchesMediaFilter(m, filter)).map((m) => withHolder(m, held.get(m.mediaId)));
}

/**
 * One load of the Storage page (`GET /api/storage`): the rows of `cairn
 * storage-unit | robot | drive | pool list --json` and the volumes of the
 * page's filter, all from one read of each listing (readStorageRecords),
 * where the separate listings read the volumes three times, the
 * reservations three times and the drives twice.
 */
export async function storageOverview(backend: MonitorBackend, filter: MediaFilter): Promise<{ units: StorageUnitInUse[]; robots: RobotRow[]; drives: DriveView[]; pools: PoolRow[]; media: MediaView[] }> {
  const records = await readStorageRecords(backend.config, backend.media, backend.emm);
  return {
    units: storageUnitsInUse(records.units, records.reservations),
    robots: robotRows(records.robots, records.drives, records.media),
    drives: driveViews(records.drives, records.reservations),
    pools: poolRows(records.pools, records.media),
    media: mediaViews(records.media, filter, records.reservations),
  };
}

export async function showMedia(backend: MonitorBackend, mediaId: string): Promise<MediaView> {
  const media = await backend.emm.getMedia(mediaId);
  if (media === undefined) throw new NotFoundError('media', mediaId);
  return withHolder(media, holders(await backend.media.listReservations(), 'volume').get(mediaId));
}

/**
 * The query of `GET /api/storage/media`: `pool`, `robot`, `state` (as
 * `cairn media list --pool --robot --state`; the state in any case). A
 * ValidationError names every parameter it rejects, an unknown one too.
 */
export function parseMediaFilter(params: URLSearchParams): MediaFilter {
  const filter: MediaFilter = {};
  const problems: string[] = [];
  for (const [name, value] of params) {
    if (value === '') continue;
    if (name === 'state') {
      const state = MediaState.safeParse(value.toUpperCase());
      if (state.success) filter.state = state.data;
      else problems.push(`state: ${JSON.stringify(value)} is not one of ${MediaState.options.join(', ')}`);
    } else if (name === 'pool' || name === 'robot') filter[name] = value;
    else problems.push(`${name}: not a filter (pool, robot, state)`);
  }
  if (problems.length) throw new ValidationError('invalid media filter', problems);
  return filter;
}

/** A drive name or media id from the path: percent-decoded; a malformed escape is a 400. */
export function pathPart(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `${what} ${JSON.stringify(raw)} is not a valid URL path segment`);
  }
}

/** The longest down reason the page may send; the rest of the record's fields are small too. */
const MAX_REASON = 200;

/**
 * The body of `POST /api/storage/drives/:name/down`: `{}` or `{"reason": "..."}`.
 * The reason is recorded with who acted, as `cairn drive down --reason`
 * records it: `cleaning (monitor ops@host1)`, or `set DOWN by monitor ops@host1`.
 */
export function downReason(body: unknown, actor: string): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object');
  const { reason, ...rest } = body as { reason?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length) throw new HttpError(400, `${unknown.join(', ')}: not a field of a drive down (reason)`);
  if (reason === undefined || (typeof reason === 'string' && reason.trim() === '')) return `set DOWN by ${actor}`;
  if (typeof reason !== 'string') throw new HttpError(400, 'reason: must be a string');
  if (reason.length > MAX_REASON) throw new HttpError(400, `reason: ${reason.length} characters, at most ${MAX_REASON}`);
  return `${reason.trim()} (${actor})`;
}

/** A body that must be empty (or `{}`): the action takes no fields. */
export function noFields(body: unknown, action: string): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object');
  const unknown = Object.keys(body);
  if (unknown.length) throw new HttpError(400, `${unknown.join(', ')}: ${action} takes no fields`);
}
