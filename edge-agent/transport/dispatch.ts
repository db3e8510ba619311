import type { RunnableCommand } from '#core/model/agent-command.ts';
import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';

/**
 * What the agent does for each kind it runs. The type asks for one handler
 * per runnable kind, so a kind made runnable in core/model/agent-command.ts
 * does not compile until the agent can run it.
 */
export interface CommandHandlers {
  backup(task: BackupTask): Promise<BackupTaskResult>;
}

export type CommandResult = BackupTaskResult;

/** Runs a parsed command (`parseAgentCommand`) with the handler of its kind. */
export function dispatchCommand(command: RunnableCommand, handlers: CommandHandlers): Promise<CommandResult> {
  switch (command.kind) {
    case 'backup':
      return handlers.backup(command.task);
  }
}
