import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadBackupJobDefinition } from '#local/asl-definition.ts';

type Handler = (input: unknown) => unknown;

/** The command a SendCommand state sent, parsed back from its `command` parameter. */
function sent(input: unknown): { kind: string; task: Record<string, unknown> } {
  return JSON.parse((input as { Parameters: { command: string[] } }).Parameters.command[0]!) as { kind: string; task: Record<string, unknown> };
}

const image = { method: 'btrfs', name: 'cairn-job-7-abc', jobId: 7, sourceRoot: '/srv', readRoot: '/srv/.cairn/cairn-job-7-abc', handle: { path: '/srv/.cairn/cairn-job-7-abc' }, createdAt: '2026-12-03T13:00:00.000Z' };

/**
 * The real backup-job.asl.json in aws-local-stepfunctions with scripted Task
 * handlers, a policy that takes snapshots: which steps run, in which order,
 * with which commands.
 */
async function run(options: { snapshot?: boolean; broken?: Partial<Record<string, Handler>>; retries?: number } = {}): Promise<{ order: string[]; commands: Record<string, ReturnType<typeof sent>[]>; error?: string }> {
  const order: string[] = [];
  const commands: Record<string, ReturnType<typeof sent>[]> = {};
  let retries = options.retries ?? 0;
  const grant = {
    granted: true,
    agentInstanceId: 'mi-1',
    command: { kind: 'backup', task: { jobId: 7, selections: ['/srv/data'] } },
    ...(options.snapshot === false
      ? {}
      : { snapshot: { kind: 'snapshot', task: { jobId: 7, selections: ['/srv/data'], choice: 'btrfs', required: true } }, deleteSnapshot: { kind: 'delete-snapshot', task: { jobId: 7, images: [] } } }),
  };
  const ok: Record<string, Handler> = {
    Queue: () => ({ jobId: 7 }),
    Reserve: () => grant,
    Snapshot: () => ({ images: [image], fellBack: [] }),
    Stream: () => ({ backupId: 'c1_1795399200', statusCode: 0 }),
    Catalog: () => ({ backupId: 'c1_1795399200', statusCode: 0 }),
    DeleteSnapshot: () => ({ deleted: [image.name], failed: [] }),
    Release: () => ({ released: true }),
    RetryDecision: () => (retries-- > 0 ? { retry: true, delaySeconds: 0 } : { retry: false }),
    EndJob: (input) => ({ jobId: 7, statusCode: (input as { outcome: { statusCode?: number } }).outcome.statusCode ?? 84 }),
  };
  const handlers = Object.fromEntries(
    Object.entries(ok).map(([name, handler]) => [
      name,
      async (input: unknown) => {
        order.push(name);
        if (['Snapshot', 'Stream', 'DeleteSnapshot'].includes(name)) (commands[name] ??= []).push(sent(input));
        return (options.broken?.[name] ?? handler)(input);
      },
    ]),
  );
  const machine = new StateMachine(loadBackupJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run({ request: { client: 'c1' } } as never, {
    context: { Task: { Token: 'token' } } as never,
    overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides: { Release: 0, EndJob: 0, Queue: 0, Reserve: 0, Catalog: 0, RetryDecision: 0 } },
  });
  try {
    await execution.result;
    return { order, commands };
  } catch (failure) {
    return { order, commands, error: ((failure as Error).cause as Error | undefined)?.name ?? String(failure) };
  }
}

const fails = (name: string) => () => {
  throw Object.assign(new Error('it broke'), { name });
};

describe('backup-job.asl.json with a policy that takes snapshots', () => {
  it('snapshots after Reserve, streams from the images, and deletes them before Release', async () => {
    const result = await run();

    expect(result.order).toEqual(['Queue', 'Reserve', 'Snapshot', 'Stream', 'Catalog', 'DeleteSnapshot', 'Release', 'RetryDecision', 'EndJob']);
    expect(result.commands.Snapshot).toEqual([{ kind: 'snapshot', task: { jobId: 7, selections: ['/srv/data'], choice: 'btrfs', required: true } }]);
    // The backup command carries the Snapshot step's answer: the agent reads inside the images.
    expect(result.commands.Stream![0]!.task.snapshots).toEqual({ images: [image], fellBack: [] });
    expect(result.commands.DeleteSnapshot).toEqual([{ kind: 'delete-snapshot', task: { jobId: 7, images: [] } }]);
  });

  it('deletes the images after a Stream that failed, and before each retry takes new ones', async () => {
    let streams = 0;
    const result = await run({ retries: 1, broken: { Stream: () => (streams++ === 0 ? fails('Status84')() : { backupId: 'c1_1795399201', statusCode: 0 }) } });

    expect(result.order).toEqual([
      'Queue', 'Reserve', 'Snapshot', 'Stream', 'DeleteSnapshot', 'Release', 'RetryDecision',
      'Reserve', 'Snapshot', 'Stream', 'Catalog', 'DeleteSnapshot', 'Release', 'RetryDecision', 'EndJob',
    ]);
  });

  it('deletes what a Snapshot step that failed may have left (156), then releases and ends the job', async () => {
    const result = await run({ broken: { Snapshot: fails('Status156') } });

    expect(result.order).toEqual(['Queue', 'Reserve', 'Snapshot', 'DeleteSnapshot', 'Release', 'RetryDecision', 'EndJob']);
    expect(result.error).toBe('BackupJobFailed');
  });

  it('releases and ends the job with its own status when DeleteSnapshot fails', async () => {
    const result = await run({ broken: { DeleteSnapshot: fails('Status156') } });

    expect(result.order).toEqual(['Queue', 'Reserve', 'Snapshot', 'Stream', 'Catalog', 'DeleteSnapshot', 'Release', 'RetryDecision', 'EndJob']);
    expect(result.error).toBeUndefined();
  });

  it('runs neither step for a policy without a snapshot method', async () => {
    const result = await run({ snapshot: false });

    expect(result.order).toEqual(['Queue', 'Reserve', 'Stream', 'Catalog', 'Release', 'RetryDecision', 'EndJob']);
    expect(result.commands.Stream![0]!.task.snapshots).toBeUndefined();
  });
});
