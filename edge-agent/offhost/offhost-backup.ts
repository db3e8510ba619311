import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CairnError } from '#core/errors.ts';
import { BackupTaskResult, type BackupTask } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { StatusCode } from '#core/status-codes.ts';
import { excludeMatcher } from '../reader/exclude.ts';
import { mapFrozenImage, type MapSummary } from './mapper.ts';
import type { MoverJob } from './mover.ts';
import type { MoverMessage } from './mover-process.ts';

export interface OffhostRequest {
  task: BackupTask;
  /** The frozen image: its read-only mount and the block device it is on (see mapFrozenImage for what is required). */
  readRoot: string;
  device: string;
  /** Where each selection is read in the frozen image (as runBackup's `sourceRoots`); a selection without one is read at its own path. */
  sourceRoots?: Readonly<Record<string, string>>;
  /** A private directory of the agent for the map and the mover's job file (removed when the backup ends). */
  workDir: string;
  /**
   * How to start the data mover: the command and its first arguments (it
   * gets `--job FILE`), e.g. `[node, cairn-agent.mjs, 'mover']`, or an ssh
   * to the host that sees the device. `device` and `fallbackRoot` as that
   * host names them (default: the agent's device, and `readRoot` when the
   * mover runs here).
   */
  mover: { command: readonly string[]; device?: string; fallbackRoot?: string; rangesOut?: string; env?: NodeJS.ProcessEnv };
  reporter: TaskReporter;
  signal?: AbortSignal;
}

/**
 * An offhost backup (NetBackup's offhost method): the agent maps the
 * frozen image's files to their extents, and a data mover, a separate
 * process that could run on any host that sees the device, reads those
 * device ranges and writes the image (mover.ts). Resolves with the mover's
 * result (its `offhost` figures say how many files fell back to a file
 * read); rejects with the mover's status (the mapping's 156 for an image
 * that is not frozen or not on the device; 50 when the mover dies without
 * saying why; 150 when `signal` aborts, after the mover removed what it
 * wrote).
 */
export async function runOffhostBackup(request: OffhostRequest): Promise<{ result: BackupTaskResult; map: MapSummary }> {
  const { task } = request;
  await mkdir(request.workDir, { recursive: true, mode: 0o700 });
  const mapFile = path.join(request.workDir, `${task.backupId}.map.ndjson`);
  const jobFile = path.join(request.workDir, `${task.backupId}.mover.json`);
  try {
    const selections = task.selections.map((s) => (request.sourceRoots?.[s] === undefined ? s : { path: s, sourceRoot: request.sourceRoots[s] }));
    request.signal?.throwIfAborted();
    const map = await mapFrozenImage({ selections, exclude: excludeMatcher(task.exclude), readRoot: request.readRoot, device: request.device, out: mapFile });
    const job: MoverJob = {
      task,
      map: mapFile,
      device: request.mover.device ?? request.device,
      fallbackRoot: request.mover.fallbackRoot ?? path.resolve(request.readRoot),
      ...(request.mover.rangesOut ? { rangesOut: request.mover.rangesOut } : {}),
    };
    await writeFile(jobFile, JSON.stringify(job), { mode: 0o600 });
    const result = await runMoverProcess(request, jobFile);
    return { result, map };
  } finally {
    await rm(mapFile, { force: true });
    await rm(jobFile, { force: true });
  }
}

/** Starts the mover, relays its progress and heartbeats to the job, stops it on abort, and returns its result or throws its error. */
async function runMoverProcess(request: OffhostRequest, jobFile: string): Promise<BackupTaskResult> {
  const [command, ...args] = request.mover.command;
  if (command === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'offhost backup: no data mover command');
  const child = spawn(command, [...args, '--job', jobFile], { stdio: ['ignore', 'pipe', 'pipe'], env: request.mover.env ?? process.env });
  const stop = (): void => void child.kill('SIGTERM');
  request.signal?.addEventListener('abort', stop, { once: true });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  let last: MoverMessage | undefined;
  try {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      let message: MoverMessage;
      try {
        message = JSON.parse(line) as MoverMessage;
      } catch {
        continue; // not one of its messages: something else printed on stdout
      }
      // Progress is advisory and a failed heartbeat is retried by the next (TaskReporter's contract): the mover goes on.
      if ('progress' in message) await request.reporter.progress(message.progress).catch(() => undefined);
      else if ('heartbeat' in message) await request.reporter.heartbeat().catch(() => undefined);
      else last = message;
    }
    const code = await exited;
    if (last && 'result' in last) return BackupTaskResult.parse(last.result);
    if (last && 'statusCode' in last) throw new CairnError(last.statusCode as CairnError['statusCode'], last.message, { details: last.details ?? [] });
    // Stopped before it could answer (SIGTERM while it was still loading): the cancel is the reason, not the silence.
    if (request.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator (the data mover was stopped)', { cause: request.signal.reason });
    throw new CairnError(StatusCode.CLIENT_PROCESS_ABORTED, `the data mover ended (exit ${code}) without a result${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.CLIENT_PROCESS_ABORTED, `the data mover could not be run (${command}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    request.signal?.removeEventListener('abort', stop);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}
