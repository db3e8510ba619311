import { reconcile, type JanitorReport } from '#core/jobs/janitor.ts';
import { objectStoreStaging } from '#agent/transport/staging-area.ts';
import { isOrphanOwner } from './orphans.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import type { LocalRuntime } from './runtime.ts';
import { orphanTapeUnloader } from './tape-orphan-unload.ts';
import { tapeFragmentProblem } from '#core/media/tape-image-check.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import type { SnapshotAgent } from '#agent/snapshot/job-snapshots.ts';
import { cleanUpLocalSnapshots, localSnapshotAgent } from './local-snapshots.ts';
import { forgetHolder, registeredHolders } from './reservation-holders.ts';
import { messageOf } from '#core/errors.ts';

/** The standalone janitor's report: the core janitor's, and the frozen images it removed. */
export type LocalJanitorReport = JanitorReport & { removedSnapshots: Array<{ name: string; jobId: number; why: string }> };

/**
 * The standalone runtime's janitor, run on start and on every tick: jobs a
 * dead process left QUEUED or ACTIVE end (2002, or the status of the image
 * they catalogued), the tape drive one held is unloaded, their
 * reservations are released, and staged images nobody will commit are
 * removed from their storage units. Then the frozen images of jobs that
 * ended with their owner process gone are deleted (local-snapshots.ts).
 * `tapeDevices`: how the in-process agent reaches robots and drives, and
 * `snapshots` its snapshot work (tests wrap them).
 */
export async function runJanitor(runtime: LocalRuntime, options: { tapeDevices?: TapeDevices; snapshots?: SnapshotAgent } = {}): Promise<LocalJanitorReport> {
  const unloadTape = orphanTapeUnloader(runtime, options.tapeDevices ?? realTapeDevices);
  // Holders that are not jobs (a duplicate to tape, reservation-holders.ts): a dead one's drive is unloaded and its
  // reservations go, as a dead job's; a live one's are spared.
  const holders = registeredHolders(runtime);
  const holderProblems: string[] = [];
  const releasedHolders: number[] = [];
  for (const holder of holders.dead) {
    try {
      await unloadTape(holder, runtime.clock.now()).catch((error: unknown) => holderProblems.push(`holder ${holder}: its tape drive could not be unloaded: ${messageOf(error)}`));
      if (await runtime.media.release(holder)) releasedHolders.push(holder);
      forgetHolder(runtime, holder);
    } catch (error) {
      holderProblems.push(`holder ${holder}: its reservations could not be released: ${messageOf(error)}`);
    }
  }
  const report = await reconcile(
    {
      config: runtime.config,
      jobs: runtime.jobs,
      catalog: runtime.catalog,
      media: runtime.media,
      staging: objectStoreStaging(openStorageUnit, { checkTapeFragment: async (backupId, location) => tapeFragmentProblem(await runtime.emm.getMedia(location.mediaId), backupId, location) }),
      isOrphaned: (job) => isOrphanOwner(job.owner, runtime.owner),
      unloadTape,
      sparedHolders: holders.live,
    },
    runtime.clock.now(),
  );
  // After the jobs of dead processes ended: their images' jobs are no longer active.
  const snapshots = await cleanUpLocalSnapshots(options.snapshots ?? localSnapshotAgent(runtime.home), runtime.jobs);
  return {
    ...report,
    releasedReservations: [...releasedHolders, ...report.releasedReservations],
    removedSnapshots: snapshots.removed,
    problems: [...holderProblems, ...report.problems, ...snapshots.problems.map((p) => `snapshot ${p}`)],
  };
}
