import { unmountOfHeldDrive } from '#core/broker/tape-held.ts';
import { runUnmount, type TapeDevices } from '#agent/tape/mount.ts';
import type { LocalRuntime } from './runtime.ts';

/**
 * The janitor's `unloadTape` in the standalone runtime: the Unmount step an
 * orphaned job's dead process never ran, run by this process's in-process
 * agent (the robot is on this host; always unload: what a dead writer left
 * in the drive is not known), then the drive recorded empty in the media
 * manager, with the mount counted when the robot had loaded the volume
 * without the media manager knowing (the job died before its Release).
 *
 * The volume's append point is not touched: it moves only when an image is
 * catalogued, so tape files the dead writer left after it (complete
 * fragments of an image never catalogued, a torn last file) are overwritten
 * by the next backup, and every earlier image stays where the catalog says.
 */
export function orphanTapeUnloader(runtime: Pick<LocalRuntime, 'media' | 'emm' | 'config'>, devices: TapeDevices): (jobId: number, now: Date) => Promise<void> {
  return async (jobId, now) => {
    const task = await unmountOfHeldDrive(runtime, jobId);
    if (!task) return;
    const { unloaded } = await runUnmount(task, devices);
    const record = await runtime.emm.getDrive(task.drive.name);
    if (unloaded && record?.loaded?.mediaId !== task.mediaId) await runtime.emm.recordMount(task.mediaId, task.drive.name, now);
    await runtime.emm.setDriveLoaded(task.drive.name, undefined, now);
  };
}
