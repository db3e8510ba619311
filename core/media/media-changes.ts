import { ERROR_HISTORY_LIMIT, type Media, type MediaErrorEntry, type WriteState } from '../model/tape-media.ts';
import type { MediaWrite } from '../ports/media-manager.ts';

/**
 * The changes the media manager makes to a volume, as pure functions of the
 * record (the store applies them conditionally on its version, and again on
 * a fresh record after a lost race, so each must be safe to re-apply to a
 * newer record).
 */

const writeStateOf = (media: Media): WriteState => (media.state === 'FROZEN' || media.state === 'SUSPENDED' ? (media.heldFrom ?? 'ACTIVE') : media.state);

function hold(media: Media, state: 'FROZEN' | 'SUSPENDED'): Media {
  if (media.state === state) return media;
  return { ...media, state, heldFrom: writeStateOf(media) };
}

function release(media: Media, state: 'FROZEN' | 'SUSPENDED'): Media {
  if (media.state !== state) return media;
  const { heldFrom: _heldFrom, ...rest } = media;
  return { ...rest, state: media.heldFrom ?? 'ACTIVE' };
}

/** FROZEN: never chosen for writing, still readable; remembers the state to return to. Idempotent. */
export const frozen = (media: Media): Media => hold(media, 'FROZEN');
/** Back to the state it was frozen from; a volume that is not FROZEN is unchanged. */
export const unfrozen = (media: Media): Media => release(media, 'FROZEN');
export const suspended = (media: Media): Media => hold(media, 'SUSPENDED');
export const unsuspended = (media: Media): Media => release(media, 'SUSPENDED');

/** Appends to an error history, keeping the newest ERROR_HISTORY_LIMIT entries. */
export function withError<T extends { errors: MediaErrorEntry[] }>(record: T, error: MediaErrorEntry): T {
  return { ...record, errors: [...record.errors, error].slice(-ERROR_HISTORY_LIMIT) };
}

/**
 * A write counted on the volume. UNASSIGNED becomes ACTIVE, `full` makes it
 * FULL (a held volume keeps its hold and returns to FULL); the image is
 * listed once; the expiration is the latest; the retention is the first
 * write's.
 */
export function written(media: Media, write: MediaWrite): Media {
  const at = write.at.toISOString();
  const nextWriteState: WriteState = write.full ? 'FULL' : writeStateOf(media) === 'FULL' ? 'FULL' : 'ACTIVE';
  const held = media.state === 'FROZEN' || media.state === 'SUSPENDED';
  const images = write.backupId === undefined || media.images.includes(write.backupId) ? media.images : [...media.images, write.backupId];
  const expiresAt = write.expiresAt === undefined || (media.expiresAt !== undefined && new Date(media.expiresAt) >= new Date(write.expiresAt)) ? media.expiresAt : write.expiresAt;
  return {
    ...media,
    ...(held ? { heldFrom: nextWriteState } : { state: nextWriteState }),
    bytesWritten: media.bytesWritten + write.bytes,
    tapeFiles: media.tapeFiles + write.tapeFiles,
    images,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(media.retentionDays === undefined && write.retentionDays !== undefined ? { retentionDays: write.retentionDays } : {}),
    lastWrittenAt: at,
  };
}
