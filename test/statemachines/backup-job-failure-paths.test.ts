import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadBackupJobDefinition } from '#local/asl-definition.ts';
import { JOB_NOT_ENDED, RESERVATION_NOT_RELEASED, outcomeOfExecution } from '#core/jobs/execution-janitor.ts';

type Handler = (input: unknown) => unknown;

/** What a run did: the inputs each Task state got, and how the execution ended. */
interface Run {
  calls: Record<string, unknown[]>;
  output?: unknown;
  error?: { name: string; cause: string };
}

/**
 * The real backup-job.asl.json in aws-local-stepfunctions, each Task state a
 * scripted handler (a broken one throws as a Lambda would), the retry waits
 * cut to nothing so a step's six retries take no time.
 */
async function run(broken: Partial<Record<string, Handler>> = {}): Promise<Run> {
  const calls: Record<string, unknown[]> = {};
  const ok: Record<string, Handler> = {
    Queue: () => ({ jobId: 7, client: 'c1', policy: 'p', schedule: 'full' }),
    Reserve: () => ({ granted: true, agentInstanceId: 'mi-1', command: { kind: 'backup', task: { jobId: 7 } } }),
    Stream: () => ({ backupId: 'c1_1795399200', statusCode: 0 }),
    Catalog: () => ({ backupId: 'c1_1795399200', statusCode: 0 }),
    Release: () => ({ released: true }),
    RetryDecision: () => ({ retry: false, reason: 'status 0 is not retried' }),
    EndJob: (input) => ({ jobId: 7, statusCode: ((input as { outcome: { statusCode?: number } }).outcome.statusCode ?? 84) }),
  };
  const handlers = Object.fromEntries(
    Object.entries(ok).map(([name, handler]) => [
      name,
      async (input: unknown) => {
        (calls[name] ??= []).push(input);
        return (broken[name] ?? handler)(input);
      },
    ]),
  );
  const machine = new StateMachine(loadBackupJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run({ request: { client: 'c1' } } as never, {
    context: { Task: { Token: 'token' } } as never,
    overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides: { Release: 0, EndJob: 0, Queue: 0, Reserve: 0, Catalog: 0, RetryDecision: 0 } },
  });
  try {
    return { calls, output: await execution.result };
  } catch (failure) {
    const cause = (failure as Error).cause as Error | undefined;
    return { calls, error: { name: cause?.name ?? 'none', cause: cause?.message ?? String(failure) } };
  }
}

/** A handler that fails like a Lambda whose service is down. */
const down = (name = 'Lambda.ServiceException') => () => {
  throw Object.assign(new Error('service unavailable'), { name });
};

describe('backup-job.asl.json when the steps that end a job keep failing', () => {
  it('ends a successful job with its status when Release fails after its retries, then fails the execution so the janitor releases', async () => {
    const result = await run({ Release: down('Status2000') });

    // Release: the first try and its six retries, then the Catch.
    expect(result.calls.Release).toHaveLength(7);
    // No retry decision: the attempt still holds its slot, so it is not tried again.
    expect(result.calls.RetryDecision).toBeUndefined();
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { statusCode: 0 } }]);
    expect(result.error?.name).toBe(RESERVATION_NOT_RELEASED);
  });

  it('ends a failed job with its failure when Release fails too', async () => {
    const result = await run({ Stream: down('Status84'), Release: down() });

    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status84', Cause: 'service unavailable' } } }]);
    expect(result.error?.name).toBe(RESERVATION_NOT_RELEASED);
  });

  it('fails as JobNotEnded, carrying the outcome the janitor then ends the job with, when EndJob fails after its retries', async () => {
    const result = await run({ EndJob: down() });

    expect(result.calls.Release).toHaveLength(1);
    expect(result.calls.EndJob).toHaveLength(7);
    expect(result.error?.name).toBe(JOB_NOT_ENDED);
    const cause = JSON.parse(result.error!.cause) as Record<string, unknown>;
    expect(cause).toEqual({ jobId: 7, outcome: { statusCode: 0 }, endFailure: { Error: 'Lambda.ServiceException', Cause: 'service unavailable' } });
    expect(outcomeOfExecution('e', { status: 'FAILED', error: result.error!.name, cause: result.error!.cause })).toEqual({ statusCode: 0 });
  });

  it('carries a failed outcome the same way', async () => {
    const result = await run({ Stream: down('Status84'), EndJob: down() });

    expect(result.error?.name).toBe(JOB_NOT_ENDED);
    expect(outcomeOfExecution('e', { status: 'FAILED', error: result.error!.name, cause: result.error!.cause })).toEqual({ failure: { Error: 'Status84', Cause: 'service unavailable' } });
  });

  it('runs as before when Release recovers within its retries', async () => {
    let failures = 2;
    const result = await run({
      Release: () => {
        if (failures-- > 0) throw Object.assign(new Error('throttled'), { name: 'Lambda.TooManyRequestsException' });
        return { released: true };
      },
    });

    expect(result.calls.Release).toHaveLength(3);
    expect(result.calls.RetryDecision).toHaveLength(1);
    expect(result.error).toBeUndefined();
    expect(result.output).toMatchObject({ final: { statusCode: 0 } });
  });
});
