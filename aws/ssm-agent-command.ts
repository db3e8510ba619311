import { GetCommandInvocationCommand, SendCommandCommand, type GetCommandInvocationCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import { CairnError } from '#core/errors.ts';
import type { OperatorCommand } from '#core/model/agent-command.ts';
import type { OperatorCommandState, OperatorCommands } from '#core/ports/operator-commands.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

/** The operator's document's script step (cdk/constructs/agent-document.ts names it so; test/cdk checks they agree): GetCommandInvocation's PluginName. */
export const AGENT_COMMAND_STEP = 'runAgentCommand';

/** GetCommandInvocation's statuses after which nothing changes any more. */
const FAILED = new Set(['Cancelled', 'TimedOut', 'Failed', 'Cancelling', 'Undeliverable', 'Terminated', 'InvalidPlatform', 'AccessDenied', 'DeliveryTimedOut', 'ExecutionTimedOut']);

export interface AgentCommandRequest {
  /** The RunAgentCommand document (stack output AgentCommandDocumentName). */
  documentName: string;
  instanceId: string;
  /** The agent command envelope (core/model/agent-command.ts), sent as one line of JSON. */
  command: unknown;
  /** How long the agent may take, SSM's own limit on the command included. Default 10 minutes. */
  timeoutSeconds?: number;
  pollMs?: number;
}

/**
 * Sends an operator's command to one managed instance with the
 * RunAgentCommand document and waits for the agent's answer: the script
 * step's stdout, which the agent writes as one line of JSON (SSM keeps up
 * to 24,000 characters of it, enough for a library of about a thousand
 * slots). A command SSM reports as failed without an answer (host offline,
 * agent missing) is status 174 with the status and stderr SSM has; a
 * command still running when the time is up is 41.
 */
export async function runAgentCommand(ssm: SSMClient, request: AgentCommandRequest): Promise<string> {
  const timeoutSeconds = request.timeoutSeconds ?? 600;
  let commandId: string;
  try {
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: request.documentName,
        InstanceIds: [request.instanceId],
        Parameters: { command: [JSON.stringify(request.command)] },
        TimeoutSeconds: Math.max(30, Math.min(timeoutSeconds, 2_592_000)),
        Comment: 'cairn operator command',
      }),
    );
    commandId = sent.Command?.CommandId ?? '';
    if (commandId === '') throw new Error('the answer has no command id');
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `ssm:SendCommand of ${request.documentName} to ${request.instanceId} failed (${errorName(error) ?? 'error'}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const invocation = await invocationOf(ssm, commandId, request.instanceId);
    const status = invocation?.Status;
    const stdout = invocation?.StandardOutputContent ?? '';
    // The answer is the agent's: trust it whatever SSM says of the exit status (a refused command exits 1 with its answer).
    if (stdout.trim() !== '' && status !== undefined && status !== 'Pending' && status !== 'InProgress' && status !== 'Delayed') return stdout;
    // Success with nothing on stdout: the script ended without the agent's answer (something else ran, or printed nothing).
    if (status !== undefined && (FAILED.has(status) || status === 'Success')) {
      const stderr = invocation?.StandardErrorContent?.trim();
      throw new CairnError(
        StatusCode.SYSTEM_ERROR_DURING_RESTORE,
        `the agent on ${request.instanceId} did not answer command ${commandId} (nothing on stdout): SSM says ${status}${invocation?.StatusDetails && invocation.StatusDetails !== status ? ` (${invocation.StatusDetails})` : ''}${stderr ? `: ${stderr}` : ''}`,
      );
    }
    if (Date.now() > deadline) throw new CairnError(StatusCode.NETWORK_TIMEOUT, `the agent on ${request.instanceId} did not answer command ${commandId} within ${timeoutSeconds} s (SSM status ${status ?? 'unknown'})`);
    await new Promise((resolve) => setTimeout(resolve, request.pollMs ?? 1000));
  }
}

/** The invocation, or undefined right after the send, before SSM has one (InvocationDoesNotExist). */
async function invocationOf(ssm: SSMClient, commandId: string, instanceId: string): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId, PluginName: AGENT_COMMAND_STEP }));
  } catch (error) {
    if (errorName(error) === 'InvocationDoesNotExist') return undefined;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `ssm:GetCommandInvocation of command ${commandId} failed (${errorName(error) ?? 'error'}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** How long an operator command sent without waiting (an idle unload) may take before SSM ends it (TimedOut). */
export const DETACHED_COMMAND_TIMEOUT_SECONDS = 600;

/**
 * OperatorCommands on SSM: SendCommand of the RunAgentCommand document to
 * one managed instance (the same parameters `runAgentCommand` sends), and
 * GetCommandInvocation of its script step on a later call. SSM keeps an
 * invocation's status and output for 30 days, longer than any unload waits.
 */
export class SsmOperatorCommands implements OperatorCommands {
  readonly #ssm: SSMClient;
  readonly #documentName: string;

  constructor(options: { client: SSMClient; documentName: string }) {
    this.#ssm = options.client;
    this.#documentName = options.documentName;
  }

  async send(instanceId: string, command: OperatorCommand): Promise<string> {
    try {
      const sent = await this.#ssm.send(
        new SendCommandCommand({
          DocumentName: this.#documentName,
          InstanceIds: [instanceId],
          Parameters: { command: [JSON.stringify(command)] },
          TimeoutSeconds: DETACHED_COMMAND_TIMEOUT_SECONDS,
          Comment: `cairn ${command.kind}`,
        }),
      );
      const commandId = sent.Command?.CommandId ?? '';
      if (commandId === '') throw new Error('the answer has no command id');
      return commandId;
    } catch (error) {
      throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `ssm:SendCommand of ${this.#documentName} to ${instanceId} failed (${errorName(error) ?? 'error'}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  async state(commandId: string, instanceId: string): Promise<OperatorCommandState> {
    const invocation = await invocationOf(this.#ssm, commandId, instanceId);
    const status = invocation?.Status;
    if (status === undefined || status === 'Pending' || status === 'InProgress' || status === 'Delayed') return { state: 'running' };
    const stdout = invocation?.StandardOutputContent ?? '';
    // The answer is the agent's whatever SSM says of the exit status (a refused command exits 1 with its answer).
    if (stdout.trim() !== '') return { state: 'answered', stdout };
    const stderr = invocation?.StandardErrorContent?.trim();
    return { state: 'failed', reason: `the agent on ${instanceId} did not answer command ${commandId}: SSM says ${status}${invocation?.StatusDetails && invocation.StatusDetails !== status ? ` (${invocation.StatusDetails})` : ''}${stderr ? `: ${stderr}` : ''}` };
  }
}
