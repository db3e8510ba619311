import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import { runBackup, type BackupDeps } from '../image/backup.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';
import { tapeSinks } from './tape-sinks.ts';

/**
 * Runs a backup, its fragments on tape when the task says so (a tape unit's
 * job: `task.tape`, the drive and volume Mount prepared), and closes the
 * drive whatever happens. The index and manifest go to `deps.store`, the
 * tape unit's index unit.
 */
export async function runBackupOnUnit(task: BackupTask, deps: BackupDeps, devices: TapeDevices = realTapeDevices): Promise<BackupTaskResult> {
  if (task.tape === undefined) return runBackup(task, deps);
  const tape = tapeSinks(task.tape, devices);
  try {
    return await runBackup(task, { ...deps, sinks: tape.sinks });
  } finally {
    await tape.close();
  }
}
