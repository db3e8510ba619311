import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { TaskGoneError, type TaskToken } from '#core/ports/task-token.ts';
import { errorName } from './aws-errors.ts';

/** Defined with the TaskToken port it belongs to; exported here too for the callers of these functions. */
export { TaskGoneError };

/** Step Functions limits on SendTaskFailure (characters) and on a task's output (bytes, UTF-8). */
export const SFN_ERROR_MAX_CHARS = 256;
export const SFN_CAUSE_MAX_CHARS = 32768;
export const SFN_OUTPUT_MAX_BYTES = 256 * 1024;

/** The ASL `Catch`/`Retry` error name for a status code: `Status71`. */
export function taskErrorName(statusCode: number): string {
  return `Status${statusCode}`;
}

/** Ends the task successfully with `output` (serialised as JSON) as the Task state's result. */
export async function sendTaskSuccess(client: SFNClient, token: string, output: unknown): Promise<void> {
  const json = JSON.stringify(output ?? null);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > SFN_OUTPUT_MAX_BYTES) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `task output is ${bytes} bytes, over the Step Functions limit of ${SFN_OUTPUT_MAX_BYTES}`);
  }
  await call('SendTaskSuccess', () => client.send(new SendTaskSuccessCommand({ taskToken: token, output: json })));
}

/**
 * Ends the task with error `Status<code>` (the CairnError's status code, 2000
 * for anything else) and the message as the cause, which an ASL Catch can match
 * and a ResultPath keeps for the job record.
 */
export async function sendTaskFailure(client: SFNClient, token: string, error: unknown): Promise<void> {
  await call('SendTaskFailure', () =>
    client.send(
      new SendTaskFailureCommand({
        taskToken: token,
        error: truncate(taskErrorName(statusOf(error)), SFN_ERROR_MAX_CHARS),
        cause: truncate(messageOf(error), SFN_CAUSE_MAX_CHARS),
      }),
    ),
  );
}

/** Tells the workflow the agent is alive; TaskGoneError when the workflow stopped waiting. */
export async function sendTaskHeartbeat(client: SFNClient, token: string): Promise<void> {
  await call('SendTaskHeartbeat', () => client.send(new SendTaskHeartbeatCommand({ taskToken: token })));
}

/** The TaskToken port on Step Functions: the three calls above, bound to one task token. */
export function sfnTaskToken(client: SFNClient, token: string): TaskToken {
  return {
    heartbeat: () => sendTaskHeartbeat(client, token),
    succeed: (output) => sendTaskSuccess(client, token, output),
    fail: (error) => sendTaskFailure(client, token, error),
  };
}

/** Cuts `text` to at most `max` characters without splitting a surrogate pair, marking the cut with `…`. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

async function call(operation: string, send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (error) {
    const name = errorName(error);
    if (name === 'TaskTimedOut') throw new TaskGoneError('timed-out', { cause: error });
    if (name === 'TaskDoesNotExist') throw new TaskGoneError('not-found', { cause: error });
    const status: StatusCodeValue = name === 'InvalidToken' ? StatusCode.INVALID_COMMAND_USAGE : StatusCode.INTERNAL_ERROR;
    throw new CairnError(status, `Step Functions ${operation} failed: ${name ?? 'Error'}: ${messageOf(error)}`, { cause: error });
  }
}
