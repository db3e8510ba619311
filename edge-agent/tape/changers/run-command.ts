import { runArgv } from '../../tools/run-argv.ts';
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
 * Runs a changer command through the agent's tool runner (tools/run-argv.ts:
 * an argv, never a shell, so a device path or a barcode is never
 * interpreted; stdin /dev/null; its whole process group killed past the
 * timeout, so a script and the mtx it started go together). A non-zero exit,
 * a kill or a failure to start rejects with a ChangerError naming `what`,
 * the argv, the exit code and the output.
 */
export async function runChangerCommand(what: string, file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  const command = [file, ...args];
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHANGER_TIMEOUT_MS;
  const outcome = await runArgv(file, args, { timeoutMs, outputMax: OUTPUT_MAX, ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
  if (outcome.startError) throw new ChangerError(what, { command, output: '', reason: outcome.startError.message }, { cause: outcome.startError });
  const output = describeOutput(outcome.stderr, outcome.stdout);
  if (outcome.timedOut) throw new ChangerError(what, { command, signal: outcome.signal ?? 'SIGKILL', output, reason: `timed out after ${timeoutMs} ms` });
  if (outcome.signal) throw new ChangerError(what, { command, signal: outcome.signal, output });
  if (outcome.exitCode !== 0) throw new ChangerError(what, { command, exitCode: outcome.exitCode ?? undefined, output });
  return { stdout: outcome.stdout, stderr: outcome.stderr };
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
