import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ContinueBackupTask } from '#core/model/tape-task.ts';
import type { Continuation, SpanRendezvous } from './next-volumes.ts';

export interface FileRendezvousOptions {
  /** The agent's state directory on this host (created when missing). */
  directory: string;
  /** How often each side looks for the other's file (default 500 ms). */
  pollMs?: number;
  /** How long `offer` waits for the waiting backup to take the continuation (default 60 s). */
  handOverMs?: number;
}

const WAITER = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The rendezvous between agent processes on one host (AWS: every SSM
 * command is its own `cairn-agent` process): files in the agent's state
 * directory, each written whole under a temporary name and renamed (atomic
 * on one file system), and polled.
 *
 * - `job-<id>.<waiter>.waiting`: the waiting backup's registration (its
 *   pid), written before the volume-full outcome goes to the workflow.
 * - `job-<id>.<waiter>.continue`: the continuation (the Continue step's
 *   target and task token). The waiting backup claims it by renaming it to
 *   `.taken`; the Continue process, if it is not taken in time, withdraws it
 *   by renaming it to `.withdrawn`. One rename wins, so a continuation is
 *   either taken by the backup (which ends the token) or withdrawn by the
 *   Continue process (which fails it), never both.
 * - `job-<id>.<waiter>.withdrawn-job`: written by `withdraw` (the Unmount
 *   step): the waiting backup gives up with 96.
 *
 * A registration whose process is gone (killed) is no waiter: `offer`
 * refuses it at once (50). Hand-written: a few renames and a poll, where a
 * lock library or an IPC socket would add a daemon's worth of failure modes.
 */
export class FileRendezvous implements SpanRendezvous {
  readonly #dir: string;
  readonly #pollMs: number;
  readonly #handOverMs: number;

  constructor(options: FileRendezvousOptions) {
    this.#dir = options.directory;
    this.#pollMs = options.pollMs ?? 500;
    this.#handOverMs = options.handOverMs ?? 60_000;
  }

  async awaitContinuation(jobId: number, waiter: string, timeoutMs: number): Promise<{ continuation: Promise<Continuation> }> {
    checkWaiter(waiter);
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const base = this.#base(jobId, waiter);
    await writeWhole(`${base}.waiting`, JSON.stringify({ jobId, waiter, pid: process.pid }));
    const continuation = this.#poll(jobId, waiter, Date.now() + timeoutMs, timeoutMs).finally(() =>
      Promise.all([`${base}.waiting`, `${base}.taken`, `${base}.withdrawn-job`].map((file) => rm(file, { force: true }))),
    );
    return { continuation };
  }

  async #poll(jobId: number, waiter: string, deadline: number, timeoutMs: number): Promise<Continuation> {
    const base = this.#base(jobId, waiter);
    for (;;) {
      try {
        await rename(`${base}.continue`, `${base}.taken`);
        return parseContinuation(await readFile(`${base}.taken`, 'utf8'), jobId, waiter);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      const withdrawn = await readFile(`${base}.withdrawn-job`, 'utf8').catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)));
      if (withdrawn !== undefined) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${jobId}: no next volume comes: ${withdrawn}`);
      if (Date.now() >= deadline) {
        throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${jobId}: no next volume came within ${Math.round(timeoutMs / 1000)} s of the last one filling (media mount timeout); the backup stops`);
      }
      await sleep(Math.min(this.#pollMs, Math.max(1, deadline - Date.now())));
    }
  }

  async offer(jobId: number, waiter: string, continuation: Continuation): Promise<void> {
    checkWaiter(waiter);
    const base = this.#base(jobId, waiter);
    const registration = await readFile(`${base}.waiting`, 'utf8').catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)));
    const pid = registration === undefined ? undefined : (JSON.parse(registration) as { pid?: unknown }).pid;
    if (typeof pid !== 'number' || !isAlive(pid)) {
      throw new CairnError(StatusCode.CLIENT_PROCESS_ABORTED, `no backup of job ${jobId} waits for a volume on this host (waiter ${waiter}${registration === undefined ? '' : `, process ${String(pid)} is gone`}): it ended or gave up`);
    }
    await writeWhole(`${base}.continue`, JSON.stringify({ jobId, waiter, tape: continuation.tape, ...(continuation.taskToken === undefined ? {} : { taskToken: continuation.taskToken }) }));
    const deadline = Date.now() + this.#handOverMs;
    for (;;) {
      await sleep(this.#pollMs);
      if (!(await exists(`${base}.continue`))) return;
      if (Date.now() >= deadline || !isAlive(pid)) {
        try {
          await rename(`${base}.continue`, `${base}.withdrawn`);
        } catch (error) {
          if (isMissing(error)) return; // taken just now
          throw error;
        }
        await rm(`${base}.withdrawn`, { force: true });
        throw new CairnError(StatusCode.CLIENT_PROCESS_ABORTED, `the backup of job ${jobId} (waiter ${waiter}, process ${pid}) did not take its next volume within ${Math.round(this.#handOverMs / 1000)} s`);
      }
    }
  }

  async withdraw(jobId: number, reason: string): Promise<void> {
    const prefix = `job-${jobId}.`;
    const names = await readdir(this.#dir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)));
    for (const name of names.filter((n) => n.startsWith(prefix) && n.endsWith('.waiting'))) {
      await writeWhole(join(this.#dir, `${name.slice(0, -'.waiting'.length)}.withdrawn-job`), reason);
    }
  }

  #base(jobId: number, waiter: string): string {
    return join(this.#dir, `job-${jobId}.${waiter}`);
  }
}

function checkWaiter(waiter: string): void {
  if (!WAITER.test(waiter)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `waiter ${JSON.stringify(waiter)}: letters, digits, - and _ only (it names files)`);
}

function parseContinuation(text: string, jobId: number, waiter: string): Continuation {
  try {
    const raw = JSON.parse(text) as { tape?: unknown; taskToken?: unknown; jobId?: unknown; waiter?: unknown };
    const task = ContinueBackupTask.parse({ jobId: raw.jobId, waiter: raw.waiter, tape: raw.tape });
    if (task.jobId !== jobId || task.waiter !== waiter) throw new Error(`it is for job ${task.jobId}, waiter ${task.waiter}`);
    return { tape: task.tape, ...(typeof raw.taskToken === 'string' ? { taskToken: raw.taskToken } : {}) };
  } catch (error) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `the continuation for job ${jobId} (waiter ${waiter}) cannot be read: ${messageOf(error)}`, { cause: error });
  }
}

/** Writes `text` to `file` whole: under a temporary name, then renamed over it. */
async function writeWhole(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, file);
}

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(
    () => true,
    (error: unknown) => (isMissing(error) ? false : Promise.reject(error)),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
