import { unmountOfHeldDrive } from '#core/broker/tape-held.ts';
import { recordTapeRelease } from '#core/broker/tape-release.ts';
import { StatusCode } from '#core/status-codes.ts';
import { runUnmount, type TapeDevices } from '#agent/tape/mount.ts';
import type { LocalRuntime } from './runtime.ts';

/**
 * The janitor's `unloadTape` in the standalone runtime: the Unmount step an
 * orphaned job's dead process never ran, run by this process's in-process
 * agent (the robot is on this host), then what Release records for a job
 * that failed (core/broker/tape-release.ts: the drive empty; a mount
 * counted when the media manager had not seen the volume loaded).
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
    await runUnmount(task, devices);
    await recordTapeRelease(runtime, jobId, now, { failure: { Error: `Status${StatusCode.JOB_ORPHANED}`, Cause: 'the process running the job stopped' } });
  };
}
