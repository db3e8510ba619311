import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { chooseDrive, inUseBy } from '#core/media/volume-choice.ts';
import { tapeGrant, type TapeUnit } from '#core/broker/tape-choice.ts';
import type { TapeVolumes } from '#agent/tape/format/tape-fragment-source.ts';
import { realTapeDevices, runMount, runUnmount, type TapeDevices } from '#agent/tape/mount.ts';

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
 */
export function restoreVolumes(deps: { emm: MediaDatabase; media: MediaStore; now: () => Date }, unit: TapeUnit, jobId: number, devices: TapeDevices = realTapeDevices): RestoreVolumes {
  let mounted: { mediaId: string; drive: TapeDrive; unmount: () => Promise<void> } | undefined;

  const unmount = async (): Promise<void> => {
    const current = mounted;
    mounted = undefined;
    if (current) await current.unmount();
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
        drive = await devices.openDrive(grant.target.drive);
      } catch (error) {
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
