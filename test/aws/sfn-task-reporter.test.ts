import { describe, expect, it } from 'vitest';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { SendTaskHeartbeatCommand, SFNServiceException } from '@aws-sdk/client-sfn';
import { CairnError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { sfnTaskToken, TaskGoneError, sendTaskFailure, sendTaskHeartbeat, sendTaskSuccess } from '#aws/sfn-task-reporter.ts';
import { describeTaskReporterContract } from '../contracts/task-reporter-contract.ts';
import { taskTokenReporter } from '#core/jobs/job-reporter.ts';

/** An SFN client that records what it was sent, or fails with `error`. */
function fakeSfn(error?: unknown): { client: SFNClient; sent: { command: string; input: Record<string, unknown> }[] } {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ command: command.constructor.name, input: command.input });
      if (error !== undefined) throw error;
      return {};
    },
  } as unknown as SFNClient;
  return { client, sent };
}

function sfnError(name: string): SFNServiceException {
  return new SFNServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} from the service` });
}

describe('Step Functions task reporting', () => {
  it('reports a failure as Status<code> with the message as cause', async () => {
    const { client, sent } = fakeSfn();
    await sendTaskFailure(client, 'token-1', new ValidationError('invalid task', ['selections: empty'], { statusCode: StatusCode.NONE_OF_THE_FILES_EXIST }));
    expect(sent).toEqual([
      { command: 'SendTaskFailureCommand', input: { taskToken: 'token-1', error: 'Status71', cause: 'invalid task: selections: empty' } },
    ]);
  });

  it('reports an unexpected error as Status2000 and cuts a long cause to the Step Functions limit', async () => {
    const { client, sent } = fakeSfn();
    await sendTaskFailure(client, 't', new Error('x'.repeat(40_000)));
    expect(sent[0]?.input.error).toBe('Status2000');
    const cause = sent[0]?.input.cause as string;
    expect(cause).toHaveLength(32768);
    expect(cause.endsWith('…')).toBe(true);
  });

  it('sends the output of a successful task as JSON', async () => {
    const { client, sent } = fakeSfn();
    await sendTaskSuccess(client, 't', { backupId: 'client1_1700000000', statusCode: 0 });
    expect(sent[0]).toEqual({ command: 'SendTaskSuccessCommand', input: { taskToken: 't', output: '{"backupId":"client1_1700000000","statusCode":0}' } });
  });

  it('tells the agent to stop when the workflow no longer waits for its heartbeat', async () => {
    const timedOut = fakeSfn(sfnError('TaskTimedOut'));
    const error = await sendTaskHeartbeat(timedOut.client, 't').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskGoneError);
    expect(error).toMatchObject({ statusCode: StatusCode.NETWORK_TIMEOUT, reason: 'timed-out' });
    expect((error as Error).cause).toBeInstanceOf(SFNServiceException);
    await expect(sendTaskHeartbeat(fakeSfn(sfnError('TaskDoesNotExist')).client, 't')).rejects.toMatchObject({ reason: 'not-found' });
  });

  it('wraps other service errors with their cause', async () => {
    const cause = sfnError('InvalidToken');
    const error = await sendTaskSuccess(fakeSfn(cause).client, 'bad', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).cause).toBe(cause);
    expect((error as CairnError).message).toMatch(/SendTaskSuccess failed: InvalidToken/);
  });
});

/**
 * The task-token side of TaskReporter against a fake SFN client: moto_server
 * does not run `.waitForTaskToken` integrations, so it has no task tokens to
 * heartbeat. The fake answers the way the service does (TaskTimedOut once the
 * workflow gave up on the task).
 */
describeTaskReporterContract('Step Functions task token (fake SFN client)', async () => {
  const abort = new AbortController();
  let delivered = 0;
  let answer: SFNServiceException | undefined;
  let once: SFNServiceException | undefined;
  const client = {
    send: async (command: unknown) => {
      if (!(command instanceof SendTaskHeartbeatCommand)) throw new Error(`unexpected ${String(command)}`);
      const failure = once ?? answer;
      once = undefined;
      if (failure) throw failure;
      delivered += 1;
      return {};
    },
  } as unknown as SFNClient;
  return {
    // What the agent runs (edge-agent/transport/run-task.ts): core's task-token reporter on the SFN calls.
    reporter: taskTokenReporter(sfnTaskToken(client, 'token-1'), abort),
    signal: abort.signal,
    endTask: async () => void (answer = sfnError('TaskTimedOut')),
    endedStatus: StatusCode.NETWORK_TIMEOUT,
    failNextHeartbeat: () => void (once = sfnError('ThrottlingException')),
    heartbeatsDelivered: () => delivered,
  };
});
