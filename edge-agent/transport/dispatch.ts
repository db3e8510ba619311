import type { RestoreTask, RestoreTaskResult, RunnableCommand } from '#core/model/agent-command.ts';
import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import type { JobSnapshots } from '#core/model/snapshot.ts';
import type { DeleteSnapshotResult, DeleteSnapshotTask, SnapshotTask } from '#core/model/snapshot-task.ts';
import type { VerifyTask, VerifyTaskResult } from '#core/model/verify-task.ts';
import type { DuplicateTask, DuplicateTaskResult } from '#core/model/duplicate-task.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { ContinueBackupTask, MountResult, MountTask, UnmountResult, UnmountTask, VolumeFullOutcome } from '#core/model/tape-task.ts';

/**
 * What the agent does for each kind it runs. The type asks for one handler
 * per runnable kind, so a kind made runnable in core/model/agent-command.ts
 * does not compile until the agent can run it. A tape backup's step ends
 * with its result or, when its volume filled, a volume-full outcome (the
 * backup waits for the next volume, which `continueBackup` hands it).
 */
export interface CommandHandlers {
  backup(task: BackupTask): Promise<BackupTaskResult | VolumeFullOutcome>;
  /** A tape restore job's Read of one volume (edge-agent/tape/tape-restore-read.ts). */
  restore(task: RestoreTask): Promise<RestoreTaskResult>;
  mount(task: MountTask): Promise<MountResult>;
  unmount(task: UnmountTask): Promise<UnmountResult>;
  continueBackup(task: ContinueBackupTask): Promise<BackupTaskResult | VolumeFullOutcome | undefined>;
  /** The Snapshot step: freeze the selections' volumes (edge-agent/snapshot/job-snapshots.ts). */
  snapshot(task: SnapshotTask): Promise<JobSnapshots>;
  /** The DeleteSnapshot step: remove the job's frozen images. */
  deleteSnapshot(task: DeleteSnapshotTask): Promise<DeleteSnapshotResult>;
  /** A verify job's Verify step (edge-agent/verify/verify-task.ts). Optional: a runner without it refuses the kind (20). */
  verify?(task: VerifyTask): Promise<VerifyTaskResult>;
  /** A duplicate job's Copy step (edge-agent/duplicate/duplicate-task.ts). Optional, as `verify`. */
  duplicate?(task: DuplicateTask): Promise<DuplicateTaskResult>;
}

export type CommandResult = BackupTaskResult | VolumeFullOutcome | RestoreTaskResult | MountResult | UnmountResult | JobSnapshots | DeleteSnapshotResult | VerifyTaskResult | DuplicateTaskResult | undefined;

/** Runs a parsed command (`parseAgentCommand`) with the handler of its kind. */
export function dispatchCommand(command: RunnableCommand, handlers: CommandHandlers): Promise<CommandResult> {
  switch (command.kind) {
    case 'backup':
      return handlers.backup(command.task);
    case 'restore':
      return handlers.restore(command.task);
    case 'mount':
      return handlers.mount(command.task);
    case 'unmount':
      return handlers.unmount(command.task);
    case 'continue-backup':
      return handlers.continueBackup(command.task);
    case 'snapshot':
      return handlers.snapshot(command.task);
    case 'delete-snapshot':
      return handlers.deleteSnapshot(command.task);
    case 'verify':
      if (handlers.verify === undefined) return Promise.reject(new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'this runner does not run verify commands'));
      return handlers.verify(command.task);
    case 'duplicate':
      if (handlers.duplicate === undefined) return Promise.reject(new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'this runner does not run duplicate commands'));
      return handlers.duplicate(command.task);
  }
}
