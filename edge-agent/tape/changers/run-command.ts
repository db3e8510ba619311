import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ChangerError } from '#core/ports/changer.ts';

/** How long a robot command may take before it is killed: a move in a large library takes minutes, an inventory after a door opened longer. */
export const DEFAULT_CHANGER_TIMEOUT_MS = 15 * 60 * 1000;

/** How much output is read from a command at most. */
const OUTPUT_MAX = 16 * 1024 * 1024;

/** How much of a command's output an error keeps. */
const OUTPUT_LIMIT = 4096;

export interface RunOptions {
  timeoutMs?: number;
  /** The environment of the command (default: the agent's); tests put a recording `mtx` first on PATH here. */
  env?: NodeJS.ProcessEnv;
  /** Working directory (default '/': a script's relative paths never land in the agent's directory). */
  cwd?: string;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs a changer command as an argv (spawn, never a shell), so a device
 * path or a barcode is never interpreted. Stdin is /dev/null (a script that
 * reads it gets end of file instead of waiting for the timeout). Past
 * the timeout its whole process group is killed (SIGKILL). A non-zero exit,
 * a kill or a failure to start rejects with a ChangerError naming `what`,
 * the argv, the exit code and the output.
 */
export function runChangerCommand(what: string, file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  const command = [file, ...args];
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHANGER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // No shell; stdin is /dev/null; its own process group, so a timeout kills a script and the mtx it started.
    const child = spawn(file, args, { env: options.env, cwd: options.cwd ?? '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // no group (any more): the child alone, if it is still there
      }
    }, timeoutMs);
    // It could not be started (ENOENT, EACCES): settled here; a 'close' that may follow changes nothing.
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new ChangerError(what, { command, output: '', reason: error.message }, { cause: error }));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const output = describeOutput(stderr(), stdout());
      if (timedOut) {
        reject(new ChangerError(what, { command, signal: signal ?? 'SIGKILL', output, reason: `timed out after ${timeoutMs} ms` }));
      } else if (signal) {
        reject(new ChangerError(what, { command, signal, output }));
      } else if (exitCode !== 0) {
        reject(new ChangerError(what, { command, exitCode: exitCode ?? undefined, output }));
      } else {
        resolve({ stdout: stdout(), stderr: stderr() });
      }
    });
  });
}

/** Everything a stream says, as text (bounded: a changer's status is kilobytes; more than 16 MiB is cut). */
function collect(stream: Readable): () => string {
  const chunks: Buffer[] = [];
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    if (bytes >= OUTPUT_MAX) return;
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Stderr then stdout, trimmed, cut to OUTPUT_LIMIT characters (the end is kept: scripts print the reason last). */
export function describeOutput(stderr: string, stdout: string): string {
  const text = [stderr.trim(), stdout.trim()].filter(Boolean).join('\n');
  return text.length > OUTPUT_LIMIT ? `…${text.slice(-OUTPUT_LIMIT)}` : text;
}

/**
 * Runs tasks one at a time in call order: a library has one robot, and a
 * changer script's state files (disk-changer's loadedN) are not safe for two
 * invocations at once. A failed task does not stop the ones queued after it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => task());
    this.tail = result.catch(() => undefined);
    return result;
  }
}
