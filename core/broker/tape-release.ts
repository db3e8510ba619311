import type { ConfigStore } from '../ports/config-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import { statusFromFailure, type JobOutcome } from '../jobs/job-service.ts';
import { StatusCode } from '../status-codes.ts';
import { isWritableState } from '../model/tape-media.ts';
import type { JobStore } from '../ports/job-store.ts';
import { recordTapeFaults } from './tape-fault-release.ts';

/**
 * What Release records in the media manager for a tape job, before its
 * reservations go (so a retried Release does it again; every step is
 * idempotent):
 *
 * - the drive's loaded volume as the Unmount step left it: still loaded
 *   after a job that succeeded on a unit with mediaUnmountDelaySeconds > 0
 *   (with `lastUsedAt` now, so the broker prefers that drive for the next
 *   job of the pool and knows how long it has been idle), empty otherwise.
 *   The Unmount step applies the same rule (the broker encoded it in the
 *   grant, `afterSuccess` / `afterFailure`); a robot that failed to unload
 *   leaves the record wrong, which costs nothing worse than a robot move:
 *   Mount asks the changer what the drive holds and never trusts this record.
 * - a mount, when the drive was not recorded as holding the volume (the
 *   robot loaded it): the volume's mount count and last mount.
 * - FULL, when the job failed with 96 after it was granted: a 96 after a
 *   grant comes from spanning (no next volume before the window closed or
 *   the mount timeout, or the agent gave up waiting for one), and the volume
 *   the job holds then is the one that reached end of media, whatever the
 *   catalog holds (ReserveNextVolume marked it FULL already; this makes sure).
 *   FROZEN / SUSPENDED volumes keep their state.
 *
 * - the tape errors the failure names (the agent's `[tape-fault ...]` tags):
 *   counted on the volume and the drive, the error policy applied, the
 *   job's detailed status told (tape-fault-release.ts).
 *
 * Fragments of a failed job are not counted: nothing points at them, and
 * the append point (moved only by a catalogued image, tape-writes.ts) is
 * still before them, so the next job writes over them.
 */
export async function recordTapeRelease(deps: { media: MediaStore; emm: MediaDatabase; config: ConfigStore; jobs?: JobStore }, jobId: number, now: Date, outcome: JobOutcome | undefined): Promise<void> {
  const held = (await deps.media.listReservations()).filter((r) => r.jobId === jobId);
  const drive = held.find((r) => r.kind === 'drive');
  const volume = held.find((r) => r.kind === 'volume');
  if (!drive || !volume) return;
  // Tape errors first (tape-fault-release.ts): the volume may be frozen and the drive taken DOWN before they are freed.
  await recordTapeFaults(deps, jobId, now, outcome, { drive: drive.drive, mediaId: volume.mediaId });
  const unit = await deps.config.getStorageUnit(drive.storageUnit);
  const statusCode = outcome === undefined ? undefined : outcome.failure ? statusFromFailure(outcome.failure) : outcome.statusCode;
  const succeeded = statusCode !== undefined && statusCode <= 1;
  const keepLoaded = succeeded && unit?.kind === 'tape' && unit.mediaUnmountDelaySeconds > 0;
  const record = await deps.emm.getDrive(drive.drive);
  if (record && record.loaded?.mediaId !== volume.mediaId) await deps.emm.recordMount(volume.mediaId, drive.drive, now);
  await deps.emm.setDriveLoaded(drive.drive, keepLoaded ? volume.mediaId : undefined, now);
  if (statusCode === StatusCode.UNABLE_TO_ALLOCATE_MEDIA) {
    await deps.emm.updateMedia(volume.mediaId, (m) => (isWritableState(m.state) ? { ...m, state: 'FULL' } : m));
  }
}
