import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { chooseDrive, inUseBy } from '#core/media/volume-choice.ts';
import { tapeGrant, type TapeUnit } from '#core/broker/tape-choice.ts';
import type { TapeVolumes } from '#agent/tape/format/tape-fragment-source.ts';
import { realTapeDevices, runMount, runUnmount, type TapeDevices } from '#agent/tape/mount.ts';
import { FaultReportingTapeDrive } from '#agent/tape/drives/fault-reporting-drive.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { recordTapeError } from '#core/media/tape-error-recording.ts';
import { tapeFaultsIn, withoutTapeFaultTags, type TapeFaultReport } from '#core/media/tape-fault.ts';
import { addDetails } from '#core/broker/tape-fault-release.ts';
import { messageOf } from '#core/errors.ts';

/** The volumes of a restore in the standalone runtime, mounted one at a time; `close` unmounts and releases. */
export interface RestoreVolumes extends TapeVolumes {
  close(): Promise<void>;
}

/**
 * Mounts the volumes a restore reads (for `tapeFragmentSource`), in the
 * standalone runtime, until restore is a job of its own (issue 10, item 9):
 * each volume in turn gets a free drive of the unit's robot (the drive
 * holding it first), reserved with the volume through the MediaStore under
 * `jobId` for as long as it is mounted, so no backup takes the drive or
 * writes the volume meanwhile; the Mount step's agent code loads it and
 * checks its label. A drive that is busy is 96 ("all 1 drive busy"): the
 * restore does not wait. `close` unloads the last volume (or keeps it loaded
 * when the unit has an unmount delay), records the drive, and releases.
 * With `config`, a read, position or label error is recorded in the media
 * manager as it happens (core/media/tape-error-recording.ts: counts, the
 * error policy; with `jobs`, the job's detailed status too).
 */
export function restoreVolumes(
  deps: { emm: MediaDatabase; media: MediaStore; now: () => Date; config?: ConfigStore; jobs?: JobStore },
  unit: TapeUnit,
  jobId: number,
  devices: TapeDevices = realTapeDevices,
): RestoreVolumes {
  let mounted: { mediaId: string; drive: TapeDrive; unmount: () => Promise<void> } | undefined;

  const unmount = async (): Promise<void> => {
    const current = mounted;
    mounted = undefined;
    if (current) await current.unmount();
  };

  // Read, position and label errors count on the volume and the drive as a backup's do (the error policy
  // may freeze the volume or take the drive DOWN); this runtime reaches the media manager, so at once.
  const recordFault = async (report: TapeFaultReport, error: unknown): Promise<void> => {
    if (!deps.config) return;
    const job = deps.jobs ? await deps.jobs.get(jobId) : undefined;
    const attempt = job?.attempt ?? 1;
    const lines = await recordTapeError({ emm: deps.emm, config: deps.config }, { report: { ...report, mediaId: report.mediaId ?? '' }, jobId, attempt, message: withoutTapeFaultTags(messageOf(error)), at: deps.now() });
    if (deps.jobs && job) await addDetails(deps.jobs, jobId, deps.now(), lines.map((line) => `attempt ${attempt}: ${line}`));
  };

  return {
    async mount(mediaId: string): Promise<TapeDrive> {
      if (mounted?.mediaId === mediaId) return mounted.drive;
      await unmount();
      const robot = await deps.emm.getRobot(unit.robot);
      const media = await deps.emm.getMedia(mediaId);
      if (!robot || !media || media.robot !== unit.robot || media.slot === undefined) {
        throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${mediaId} is not in robot ${unit.robot}${media?.robot ? ` (it is in ${media.robot})` : ''}: put it in the library and run an inventory`);
      }
      const drives = await deps.emm.listDrives(robot.name);
      const choice = chooseDrive(robot.name, mediaId, drives, inUseBy(await deps.media.listReservations(), jobId));
      if (!choice.chosen) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `no drive to read volume ${mediaId}: ${choice.reason}`);
      const granted = await deps.media.reserve({
        jobId,
        resources: [
          { kind: 'drive', storageUnit: unit.name, drive: choice.drive.name },
          { kind: 'volume', pool: media.pool, mediaId },
        ],
        at: deps.now(),
      });
      if (!granted.granted) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `no drive to read volume ${mediaId}: ${granted.reason}`);
      const grant = tapeGrant(jobId, unit, { robot, drives, drive: choice.drive, media, fromScratch: false, reason: choice.reason });
      const release = async (keep: boolean): Promise<void> => {
        try {
          await runUnmount({ ...grant.afterFailure.task, keepLoaded: keep }, devices);
          await deps.emm.setDriveLoaded(choice.drive.name, keep ? mediaId : undefined, deps.now());
        } finally {
          await deps.media.release(jobId);
        }
      };
      let drive: TapeDrive;
      try {
        // Read only: never label (a volume with images is not blank), position anywhere valid; the source seeks by block.
        await runMount({ ...grant.mount.task, volume: { ...grant.mount.task.volume, label: false } }, devices, deps.now);
        if (choice.drive.loaded?.mediaId !== mediaId) await deps.emm.recordMount(mediaId, choice.drive.name, deps.now());
        drive = new FaultReportingTapeDrive(await devices.openDrive(grant.target.drive), { drive: choice.drive.name, mediaId }, (report, error) => recordFault(report, error));
      } catch (error) {
        // The Mount's own tape errors (the label read, positioning) carry their tags: counted the same way.
        for (const report of tapeFaultsIn(messageOf(error))) await recordFault({ ...report, mediaId: report.mediaId ?? mediaId }, error).catch(() => undefined);
        await release(false).catch(() => undefined);
        throw error;
      }
      mounted = {
        mediaId,
        drive,
        unmount: async () => {
          await drive.close();
          await release(unit.mediaUnmountDelaySeconds > 0);
        },
      };
      return drive;
    },
    close: unmount,
  };
}
