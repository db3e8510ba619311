import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FileRendezvous } from '#agent/tape/spanning/file-rendezvous.ts';
import { CairnError } from '#core/errors.ts';
import type { TapeTarget } from '#core/model/tape-task.ts';
import { tempDir } from '../../helpers.ts';

const TARGET: TapeTarget = { drive: { name: 'd0', index: 0, path: '/srv/vtl/drive0', blockSize: 65536 }, volume: { mediaId: 'CRN002L6', slot: 2, pool: 'daily', appendFile: 1, label: true }, spanWaitSeconds: 60 };

/** A waiting backup in its own process, as on an agent host where each SSM command is a process. */
function waiter(dir: string, jobId: number, name: string, timeoutMs: number): { child: ChildProcess; registered: Promise<void>; result: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./waiter-child.ts', import.meta.url)), dir, String(jobId), name, String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  let onRegistered!: () => void;
  const registered = new Promise<void>((resolve) => (onRegistered = resolve));
  child.stdout!.on('data', (data: Buffer) => {
    out += data.toString();
    if (out.startsWith('registered\n')) onRegistered();
  });
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const result = new Promise<string>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(out.replace(/^registered\n/, '').trim()) : reject(new Error(`waiter exited ${code}: ${stderr}`)))),
  );
  return { child, registered, result };
}

describe('the file rendezvous between a waiting backup and the Continue step (agent processes on one host)', () => {
  const dirs: Array<() => void> = [];
  afterEach(() => dirs.splice(0).forEach((cleanup) => cleanup()));
  const directory = (): string => {
    const { dir, cleanup } = tempDir('rendezvous');
    dirs.push(cleanup);
    return dir;
  };

  it('hands the continuation (target and task token) from one process to the waiting one, and leaves no file behind', async () => {
    const dir = directory();
    const waiting = waiter(dir, 7, 'w-1', 20_000);
    await waiting.registered;
    await new FileRendezvous({ directory: dir, pollMs: 50 }).offer(7, 'w-1', { tape: TARGET, taskToken: 'token-2' });
    expect(JSON.parse(await waiting.result)).toEqual({ tape: TARGET, taskToken: 'token-2' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives a later attempt only its own continuation: the waiter named in the outcome', async () => {
    const dir = directory();
    const first = waiter(dir, 7, 'attempt-1', 20_000);
    const second = waiter(dir, 7, 'attempt-2', 20_000);
    await Promise.all([first.registered, second.registered]);
    const rendezvous = new FileRendezvous({ directory: dir, pollMs: 50 });
    await rendezvous.offer(7, 'attempt-2', { tape: TARGET, taskToken: 'for-2' });
    expect(JSON.parse(await second.result)).toMatchObject({ taskToken: 'for-2' });
    await rendezvous.withdraw(7, 'the job is unmounting its drive');
    expect(await first.result).toBe('failed 96 job 7: no next volume comes: the job is unmounting its drive');
  });

  it('gives up with 96 when no continuation comes within the wait', async () => {
    const dir = directory();
    const waiting = waiter(dir, 8, 'w-1', 300);
    expect(await waiting.result).toMatch(/^failed 96 job 8: no next volume came within 0 s of the last one filling \(media mount timeout\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to offer to a backup that does not wait (never registered, or its process is gone) with 50, and leaves nothing to take', async () => {
    const dir = directory();
    const rendezvous = new FileRendezvous({ directory: dir, pollMs: 50 });
    await expect(rendezvous.offer(9, 'w-1', { tape: TARGET })).rejects.toMatchObject({ statusCode: 50 });
    const waiting = waiter(dir, 9, 'w-2', 20_000);
    await waiting.registered;
    waiting.child.kill('SIGKILL');
    await waiting.result.catch(() => undefined);
    const error = await rendezvous.offer(9, 'w-2', { tape: TARGET }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).statusCode).toBe(50);
    expect((error as CairnError).message).toMatch(/no backup of job 9 waits for a volume on this host \(waiter w-2, process \d+ is gone\)/);
    expect(existsSync(`${dir}/job-9.w-2.continue`)).toBe(false);
  });

  it('withdraws a continuation the waiting backup did not take in time, so it is never both taken and failed', async () => {
    const dir = directory();
    // Two independent instances over one directory: a registered waiter that never polls (its process is this one, alive).
    const waiting = new FileRendezvous({ directory: dir, pollMs: 60_000 });
    const registration = await waiting.awaitContinuation(10, 'w-1', 1500);
    const offering = new FileRendezvous({ directory: dir, pollMs: 20, handOverMs: 200 });
    await expect(offering.offer(10, 'w-1', { tape: TARGET })).rejects.toMatchObject({ statusCode: 50, message: expect.stringMatching(/did not take its next volume within 0 s/) });
    expect(readdirSync(dir).filter((n) => n.includes('.continue') || n.includes('.withdrawn'))).toEqual([]);
    // The waiter, waking up, finds nothing to take and gives up when its wait is over.
    await expect(registration.continuation).rejects.toMatchObject({ statusCode: 96 });
  });
});
