import { execFile } from 'node:child_process';
import { ChangerError } from '#core/ports/changer.ts';

/** How long a robot command may take before it is killed: a move in a large library takes minutes, an inventory after a door opened longer. */
export const DEFAULT_CHANGER_TIMEOUT_MS = 15 * 60 * 1000;

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
 * Runs a changer command with execFile, never through a shell, so a device
 * path or a barcode is never interpreted. Stdin is closed at once (a script
 * that reads it gets end of file instead of waiting for the timeout). A
 * non-zero exit, a kill or a failure to start rejects with a ChangerError
 * naming `what`, the argv, the exit code and the output.
 */
export function runChangerCommand(what: string, file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  const command = [file, ...args];
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHANGER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: options.env, cwd: options.cwd ?? '/', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const output = describeOutput(stderr, stdout);
        const failed = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals | null };
        if (typeof failed.code === 'number') {
          reject(new ChangerError(what, { command, exitCode: failed.code, output }, { cause: error }));
        } else if (failed.signal) {
          const reason = failed.killed ? `timed out after ${timeoutMs} ms` : undefined;
          reject(new ChangerError(what, { command, signal: failed.signal, output, reason }, { cause: error }));
        } else {
          reject(new ChangerError(what, { command, output, reason: failed.message }, { cause: error }));
        }
      },
    );
    child.stdin?.end();
  });
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
