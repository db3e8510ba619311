import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadRestoreJobDefinition } from '#local/asl-definition.ts';
import { RESERVATION_NOT_RELEASED } from '#core/jobs/execution-janitor.ts';

type Handler = (input: unknown) => unknown;

interface Run {
  calls: Record<string, unknown[]>;
  /** Task states in the order they ran. */
  order: string[];
  output?: unknown;
  error?: { name: string; cause: string };
}

const unmount = (keepLoaded: boolean, mediaId: string) => ({ kind: 'unmount', task: { jobId: 7, mediaId, keepLoaded } });

/**
 * The real restore-job.asl.json in aws-local-stepfunctions, each Task state a
 * scripted handler (a broken one throws as a Lambda or the agent would), for
 * an image on two volumes; retry waits cut to nothing.
 */
async function run(broken: Partial<Record<string, Handler>> = {}): Promise<Run> {
  const calls: Record<string, unknown[]> = {};
  const order: string[] = [];
  const volumeOf = (input: unknown): string => ['V1', 'V2'][(input as { volume: number }).volume]!;
  const ok: Record<string, Handler> = {
    Queue: () => ({ jobId: 7, client: 'c1', backupId: 'c1_1795399200' }),
    Plan: () => ({ count: 2, volumes: ['V1', 'V2'] }),
    Reserve: (input) => {
      const mediaId = volumeOf(input);
      return { granted: true, agentInstanceId: 'mi-1', mediaId, tape: { mount: { kind: 'mount', task: { jobId: 7, mediaId } }, afterSuccess: unmount(true, mediaId), afterFailure: unmount(false, mediaId) }, read: { kind: 'restore', task: { jobId: 7, mediaId } } };
    },
    Mount: () => ({ moved: true }),
    Read: () => ({ files: 1, statusCode: 0 }),
    RecordRead: () => ({ statusCode: 0 }),
    Unmount: () => ({ unloaded: true }),
    Release: () => ({ released: true }),
    NextCopy: () => ({ next: false, reason: 'no further copy on tape' }),
    EndJob: (input) => ({ jobId: 7, statusCode: (input as { outcome: { statusCode?: number } }).outcome.statusCode ?? 85 }),
  };
  const handlers = Object.fromEntries(
    Object.entries(ok).map(([name, handler]) => [
      name,
      async (input: unknown) => {
        (calls[name] ??= []).push(input);
        order.push(name);
        return (broken[name] ?? handler)(input);
      },
    ]),
  );
  const machine = new StateMachine(loadRestoreJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run({ request: { backupId: 'c1_1795399200' } } as never, {
    context: { Task: { Token: 'token' } } as never,
    overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides: { Release: 0, EndJob: 0, Queue: 0, Plan: 0, Reserve: 0, RecordRead: 0, NextCopy: 0 }, waitTimeOverrides: { WaitForDrive: 0 } },
  });
  try {
    return { calls, order, output: await execution.result };
  } catch (failure) {
    const cause = (failure as Error).cause as Error | undefined;
    return { calls, order, error: { name: cause?.name ?? 'none', cause: cause?.message ?? String(failure) } };
  }
}

/** A handler that fails as a Lambda or the agent does, with a `Status<code>` error. */
const fails =
  (name: string) =>
  (input?: unknown): never => {
    throw Object.assign(new Error(`${name} failed`), { name, input });
  };

describe('restore-job.asl.json over two volumes', () => {
  it('reserves, mounts, reads, records, unmounts (keeping loaded as the grant says) and releases each volume in turn, then ends the job with the last status', async () => {
    const result = await run();
    expect(result.error).toBeUndefined();
    const perVolume = ['Reserve', 'Mount', 'Read', 'RecordRead', 'Unmount', 'Release'];
    expect(result.order).toEqual(['Queue', 'Plan', ...perVolume, ...perVolume, 'EndJob']);
    expect(result.calls.Reserve).toEqual([{ action: 'reserve', jobId: 7, volume: 0 }, { action: 'reserve', jobId: 7, volume: 1 }]);
    expect(result.calls.RecordRead?.[1]).toEqual({ action: 'recordRead', jobId: 7, volume: 1, result: { files: 1, statusCode: 0 } });
    expect(result.calls.Unmount?.map((c) => JSON.parse((c as { Parameters: { command: string[] } }).Parameters.command[0]!) as unknown)).toEqual([unmount(true, 'V1'), unmount(true, 'V2')]);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { statusCode: 0 } }]);
  });

  it('waits while Reserve is refused, and asks again', async () => {
    let refusals = 0;
    const result = await run({
      Reserve: (input) => {
        if (refusals++ < 2) return { granted: false, reason: 'waiting for drive: all 2 drives busy', retryAfterSeconds: 30 };
        const mediaId = ['V1', 'V2'][(input as { volume: number }).volume]!;
        return { granted: true, agentInstanceId: 'mi-1', mediaId, tape: { mount: {}, afterSuccess: unmount(false, mediaId), afterFailure: unmount(false, mediaId) }, read: {} };
      },
    });
    expect(result.error).toBeUndefined();
    expect(result.calls.Reserve).toHaveLength(4);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { statusCode: 0 } }]);
  });

  it('after a Read fails on the second volume: unmounts it (always unloading), releases, and ends the job with the failure; nothing more is reserved', async () => {
    let reads = 0;
    const result = await run({ Read: (input) => (reads++ === 0 ? { files: 1, statusCode: 0 } : fails('Status85')(input)) });
    expect(result.order.slice(-5)).toEqual(['Read', 'Unmount', 'Release', 'NextCopy', 'EndJob']);
    expect(result.calls.NextCopy).toEqual([{ action: 'nextCopy', jobId: 7, failure: { Error: 'Status85', Cause: 'Status85 failed' } }]);
    expect(result.calls.Reserve).toHaveLength(2);
    expect(JSON.parse((result.calls.Unmount?.[1] as { Parameters: { command: string[] } }).Parameters.command[0]!)).toEqual(unmount(false, 'V2'));
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status85', Cause: 'Status85 failed' } } }]);
    expect(result.error?.name).toBe('RestoreJobFailed');
  });

  it('after Reserve fails on the second volume: no Unmount for the first volume\'s grant, Release, the job ends with the failure', async () => {
    let reserves = 0;
    const good = (input: unknown) => ({ granted: true, agentInstanceId: 'mi-1', mediaId: 'V1', tape: { mount: {}, afterSuccess: unmount(false, 'V1'), afterFailure: unmount(false, 'V1') }, read: {}, input });
    const result = await run({ Reserve: (input) => (reserves++ === 0 ? good(input) : fails('Status96')(input)) });
    expect(result.calls.Unmount).toHaveLength(1);
    expect(result.order.slice(-4)).toEqual(['Reserve', 'Release', 'NextCopy', 'EndJob']);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status96', Cause: 'Status96 failed' } } }]);
  });

  it('after a Read fails with the copy\'s data: releases, turns to the next copy, plans and reads it from its first volume, and ends with its status', async () => {
    let reads = 0;
    let copies = 0;
    const result = await run({
      Read: (input) => (reads++ === 1 ? fails('Status2001')(input) : { files: 1, statusCode: 0 }),
      NextCopy: () => (copies++ === 0 ? { next: true, copyNumber: 3, storageUnit: 'tape2' } : { next: false, reason: 'no further copy on tape' }),
    });
    expect(result.error).toBeUndefined();
    const perVolume = ['Reserve', 'Mount', 'Read', 'RecordRead', 'Unmount', 'Release'];
    expect(result.order).toEqual(['Queue', 'Plan', ...perVolume, 'Reserve', 'Mount', 'Read', 'Unmount', 'Release', 'NextCopy', 'Plan', ...perVolume, ...perVolume, 'EndJob']);
    // The next copy's loop starts at its first volume; the failed copy's drive is unmounted once, not again.
    expect(result.calls.Reserve?.map((c) => (c as { volume: number }).volume)).toEqual([0, 1, 0, 1]);
    expect(result.calls.Unmount).toHaveLength(4);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { statusCode: 0 } }]);
  });

  it('after Plan of the next copy fails: releases (nothing to unmount), asks NextCopy again, and ends with that failure', async () => {
    let plans = 0;
    let reads = 0;
    const result = await run({
      Read: (input) => (reads++ === 0 ? fails('Status85')(input) : { files: 1, statusCode: 0 }),
      Plan: (input) => (plans++ === 0 ? { count: 2, volumes: ['V1', 'V2'] } : fails('Status219')(input)),
      NextCopy: (input) => ((input as { failure: { Error: string } }).failure.Error === 'Status85' ? { next: true, copyNumber: 2, storageUnit: 'tape2' } : { next: false, reason: 'no further copy on tape' }),
    });
    expect(result.order.slice(-6)).toEqual(['Release', 'NextCopy', 'Plan', 'Release', 'NextCopy', 'EndJob']);
    expect(result.calls.Unmount).toHaveLength(1);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status219', Cause: 'Status219 failed' } } }]);
  });

  it('ends the job with Release\'s failure when Release fails for good, goes on to no further volume, and fails the execution so the janitor releases', async () => {
    const result = await run({ Release: fails('Status2000') });
    expect(result.calls.Release).toHaveLength(7);
    expect(result.calls.Reserve).toHaveLength(1);
    expect(result.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status2000', Cause: 'Status2000 failed' } } }]);
    expect(result.error?.name).toBe(RESERVATION_NOT_RELEASED);
  });
});
