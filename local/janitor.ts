import { reconcile, type JanitorReport } from '#core/jobs/janitor.ts';
import { objectStoreStaging } from '#agent/transport/staging-area.ts';
import { isOrphanOwner } from './orphans.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import type { LocalRuntime } from './runtime.ts';
import { orphanTapeUnloader } from './tape-orphan-unload.ts';
import { tapeFragmentProblem } from '#core/media/tape-image-check.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';

/**
 * The standalone runtime's janitor, run on start and on every tick: jobs a
 * dead process left QUEUED or ACTIVE end (2002, or the status of the image
 * they catalogued), the tape drive one held is unloaded, their
 * reservations are released, and staged images nobody will commit are
 * removed from their storage units. `tapeDevices`: how the in-process
 * agent reaches robots and drives (tests wrap them).
 */
export async function runJanitor(runtime: LocalRuntime, options: { tapeDevices?: TapeDevices } = {}): Promise<JanitorReport> {
  return reconcile(
    {
      config: runtime.config,
      jobs: runtime.jobs,
      catalog: runtime.catalog,
      media: runtime.media,
      staging: objectStoreStaging(openStorageUnit, { checkTapeFragment: async (backupId, location) => tapeFragmentProblem(await runtime.emm.getMedia(location.mediaId), backupId, location) }),
      isOrphaned: (job) => isOrphanOwner(job.owner, runtime.owner),
      unloadTape: orphanTapeUnloader(runtime, options.tapeDevices ?? realTapeDevices),
    },
    runtime.clock.now(),
  );
}
