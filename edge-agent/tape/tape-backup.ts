import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import { runBackup, type BackupDeps } from '../image/backup.ts';
import { runOffhostTask } from '../offhost/offhost-task.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';
import { tapeSinks } from './tape-sinks.ts';
import type { NextVolumes } from './spanning/next-volumes.ts';
import { DEFAULT_PIECE_BYTES } from '#core/model/storage-unit.ts';

/**
 * Runs a backup, its fragments on tape when the task says so (a tape unit's
 * job: `task.tape`, the drive and volume Mount prepared), and closes the
 * drive whatever happens. The index and manifest go to `deps.store`, the
 * tape unit's index unit. With `volumes`, a backup that fills its volume
 * asks for the next one and goes on there (spanning/); without, it fails
 * with 96. A backup that ends with its last volume past early warning says
 * so in its result (`fullVolume`): the Catalog step records that volume FULL.
 */
export async function runBackupOnUnit(task: BackupTask, deps: BackupDeps, devices: TapeDevices = realTapeDevices, volumes?: NextVolumes): Promise<BackupTaskResult> {
  // An offhost policy's data goes through the mapper and the data mover (docs/offhost.md); a tape unit is refused there.
  if (task.backupMethod === 'offhost') return runOffhostTask(task, deps);
  if (task.tape === undefined) return runBackup(task, deps);
  const tape = tapeSinks(task.tape, devices, volumes, { buffers: task.buffers, memberBytes: task.storageUnit.pieceBytes ?? DEFAULT_PIECE_BYTES });
  try {
    const result = await runBackup(task, { ...deps, sinks: tape.sinks });
    // The last volume past its mark: reported, for the Catalog step to record it FULL (NetBackup's end of media).
    const full = tape.pastEarlyWarning;
    return full === undefined ? result : { ...result, fullVolume: full };
  } finally {
    await tape.close();
  }
}
