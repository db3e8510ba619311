import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadBackupJobDefinition } from '#local/asl-definition.ts';

type Handler = (input: unknown) => unknown;

interface Run {
  calls: Record<string, unknown[]>;
  /** Task states in the order they ran. */
  path: string[];
  output?: Record<string, unknown>;
  error?: string;
}

const unmount = (mediaId: string, keepLoaded: boolean) => ({ kind: 'unmount', task: { jobId: 7, mediaId, keepLoaded } });
const grantFor = (mediaId: string) => ({ mount: { kind: 'mount', task: { jobId: 7, volume: { mediaId } } }, afterSuccess: unmount(mediaId, true), afterFailure: unmount(mediaId, false) });
const full = (mediaId: string) => ({ outcome: 'volume-full', jobId: 7, waiter: 'w-1', mediaId, drive: 'd0', fragments: 2, bytes: 100, appendFile: 3, fullAt: '2026-12-03T04:00:00.000Z' });
const result = { backupId: 'c1_1795399200', statusCode: 0 };

/**
 * The real backup-job.asl.json in aws-local-stepfunctions with scripted Task
 * states: a tape job whose backup fills volumes, through VolumeFull? →
 * ReserveNextVolume → NextVolumeGranted? (WaitForVolume) → NextVolumeGrant →
 * MountNextVolume → Continue, and the Catch of each new state.
 */
async function run(script: Partial<Record<string, Handler>>): Promise<Run> {
  const calls: Record<string, unknown[]> = {};
  const path: string[] = [];
  let nextVolumes = 0;
  const ok: Record<string, Handler> = {
    Queue: () => ({ jobId: 7, client: 'c1', policy: 'p', schedule: 'full' }),
    Reserve: () => ({ granted: true, agentInstanceId: 'mi-1', command: { kind: 'backup', task: { jobId: 7 } }, tape: grantFor('V1') }),
    Mount: () => ({ mediaId: 'V1' }),
    Stream: () => full('V1'),
    ReserveNextVolume: () => {
      nextVolumes += 1;
      const mediaId = `V${nextVolumes + 1}`;
      return { granted: true, mediaId, tape: grantFor(mediaId), continue: { kind: 'continue-backup', task: { jobId: 7, waiter: 'w-1', tape: { volume: { mediaId } } } } };
    },
    MountNextVolume: (input) => ({ mediaId: ((input as { Parameters: { command: string[] } }).Parameters.command[0]!.match(/"mediaId":"(V\d)"/) ?? [])[1] }),
    Continue: () => result,
    Catalog: () => result,
    Unmount: () => ({ drive: 'd0', unloaded: false }),
    Release: () => ({ released: true }),
    RetryDecision: () => ({ retry: false, reason: 'not retried' }),
    EndJob: (input) => ({ jobId: 7, statusCode: (input as { outcome: { statusCode?: number } }).outcome.statusCode ?? 96 }),
  };
  const handlers = Object.fromEntries(
    Object.entries(ok).map(([name, handler]) => [
      name,
      async (input: unknown) => {
        (calls[name] ??= []).push(input);
        path.push(name);
        return (script[name] ?? handler)(input);
      },
    ]),
  );
  const machine = new StateMachine(loadBackupJobDefinition() as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run({ request: { client: 'c1' } } as never, {
    context: { Task: { Token: 'token' } } as never,
    overrides: { taskResourceLocalHandlers: handlers as never, waitTimeOverrides: { WaitForVolume: 0 }, retryIntervalOverrides: { ReserveNextVolume: 0, Release: 0, EndJob: 0 } },
  });
  try {
    return { calls, path, output: (await execution.result) as Record<string, unknown> };
  } catch (failure) {
    return { calls, path, error: ((failure as Error).cause as Error | undefined)?.name ?? String(failure) };
  }
}

/** The agent command a SendCommand state sent, parsed. */
const sent = (input: unknown): { kind: string; task: Record<string, unknown> } => JSON.parse((input as { Parameters: { command: string[] } }).Parameters.command[0]!);

describe('backup-job.asl.json spanning tape volumes', () => {
  it('loops Stream → ReserveNextVolume → MountNextVolume → Continue until the backup ends, then catalogs and unmounts the volume in the drive', async () => {
    let continues = 0;
    const out = await run({ Continue: () => (++continues < 2 ? full(`V${continues + 1}`) : result) });

    expect(out.error).toBeUndefined();
    expect(out.path).toEqual(['Queue', 'Reserve', 'Mount', 'Stream', 'ReserveNextVolume', 'MountNextVolume', 'Continue', 'ReserveNextVolume', 'MountNextVolume', 'Continue', 'Catalog', 'Unmount', 'Release', 'RetryDecision', 'EndJob']);
    // ReserveNextVolume gets the volume-full outcome the Stream (then the Continue) step ended with.
    expect(out.calls.ReserveNextVolume).toEqual([
      { action: 'reserve-next-volume', jobId: 7, full: full('V1') },
      { action: 'reserve-next-volume', jobId: 7, full: full('V2') },
    ]);
    // Each next volume is mounted with its own command, and Continue hands the waiting backup its grant.
    expect(out.calls.MountNextVolume!.map((input) => sent(input).task)).toEqual([{ jobId: 7, volume: { mediaId: 'V2' } }, { jobId: 7, volume: { mediaId: 'V3' } }]);
    expect(out.calls.Continue!.map((input) => sent(input))).toEqual([
      { kind: 'continue-backup', task: { jobId: 7, waiter: 'w-1', tape: { volume: { mediaId: 'V2' } } } },
      { kind: 'continue-backup', task: { jobId: 7, waiter: 'w-1', tape: { volume: { mediaId: 'V3' } } } },
    ]);
    // Catalog gets the backup's result (the last Continue's), and Unmount acts on the last volume.
    expect(out.calls.Catalog).toEqual([{ action: 'commit', jobId: 7, result }]);
    expect(sent(out.calls.Unmount![0])).toEqual(unmount('V3', true));
    expect(out.output).toMatchObject({ final: { statusCode: 0 } });
  });

  it('waits (WaitForVolume) while no volume is granted, and asks again', async () => {
    let asks = 0;
    const out = await run({
      ReserveNextVolume: () => (++asks < 3 ? { granted: false, reason: 'waiting for volume: pool daily has no writable volume', retryAfterSeconds: 30 } : { granted: true, mediaId: 'V2', tape: grantFor('V2'), continue: { kind: 'continue-backup', task: { jobId: 7, waiter: 'w-1', tape: {} } } }),
    });
    expect(out.calls.ReserveNextVolume).toHaveLength(3);
    expect(out.path.filter((s) => s === 'Continue')).toHaveLength(1);
    expect(out.output).toMatchObject({ final: { statusCode: 0 } });
  });

  it('fails the job through Unmount and Release when ReserveNextVolume fails (96: no volume before the window closed), unloading the full volume still in the drive', async () => {
    const out = await run({
      ReserveNextVolume: () => {
        throw Object.assign(new Error('job 7: volume V1 is full and its window closed'), { name: 'Status96' });
      },
    });
    expect(out.path.slice(4)).toEqual(['ReserveNextVolume', 'Unmount', 'Release', 'RetryDecision', 'EndJob']);
    expect(sent(out.calls.Unmount![0])).toEqual(unmount('V1', false));
    expect(out.calls.EndJob).toEqual([{ action: 'finish', jobId: 7, outcome: { failure: { Error: 'Status96', Cause: 'job 7: volume V1 is full and its window closed' } } }]);
    expect(out.error).toBe('BackupJobFailed');
  });

  it.each(['MountNextVolume', 'Continue'])('fails the job through Unmount and Release when %s fails, unloading the next volume the drive now holds', async (state) => {
    const out = await run({
      [state]: () => {
        throw Object.assign(new Error(`${state} failed`), { name: 'Status84' });
      },
    });
    expect(out.path.slice(-4)).toEqual(['Unmount', 'Release', 'RetryDecision', 'EndJob']);
    expect(sent(out.calls.Unmount![0])).toEqual(unmount('V2', false));
    expect(out.calls.Release).toEqual([{ action: 'release', jobId: 7, outcome: { failure: { Error: 'Status84', Cause: `${state} failed` } } }]);
    expect(out.error).toBe('BackupJobFailed');
  });
});
