import type { OperatorCommand } from '../model/agent-command.ts';

/** Where a sent operator command is. */
export type OperatorCommandState =
  /** Not finished yet (queued, delivered, running). */
  | { state: 'running' }
  /** Finished, and the agent printed its answer (`{"result":...}` or `{"statusCode":N,"message":...}`, one JSON line). */
  | { state: 'answered'; stdout: string }
  /** Finished without the agent's answer (host offline, agent missing, timed out, cancelled): what the service says. */
  | { state: 'failed'; reason: string };

/**
 * Operator commands on an agent host that nobody waits for in the same
 * call (AWS: SSM SendCommand of the RunAgentCommand document, then
 * GetCommandInvocation on a later scheduler tick). The cloud scheduler's
 * idle unload sends `unmount` through it.
 *
 * Contract: `send` delivers the command envelope to the instance and
 * resolves with the command's id once the service accepted it (a command
 * it refused rejects with a CairnError, and nothing runs). `state` says
 * where that command is on that instance; it changes nothing and is safe
 * to repeat. A failure to ask rejects with a CairnError keeping the cause.
 */
export interface OperatorCommands {
  send(instanceId: string, command: OperatorCommand): Promise<string>;
  state(commandId: string, instanceId: string): Promise<OperatorCommandState>;
}
