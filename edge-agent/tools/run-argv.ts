import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/** How a tool run ended: its exit code or signal, whether the timeout killed it, a failure to start, and its output (bounded). */
export interface ArgvOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** It could not be started (ENOENT, EACCES): no exit code, no output. */
  startError?: Error;
  stdout: string;
  stderr: string;
}

export interface ArgvOptions {
  timeoutMs: number;
  /** How many bytes of each stream are kept; the rest is read and dropped. */
  outputMax: number;
  /** The environment (default: the agent's). */
  env?: NodeJS.ProcessEnv;
  /** Working directory (default '/': a tool's relative paths never land in the agent's directory). */
  cwd?: string;
}

/**
 * Runs a system tool (mtx, a changer script, btrfs, lvcreate, zfs...) as an
 * argv: spawn, never a shell, so a device path, a barcode or a snapshot name
 * is never interpreted. Stdin is /dev/null (a tool that reads it gets end of
 * file instead of waiting for the timeout). The tool runs in its own process
 * group, killed whole (SIGKILL) past the timeout, so a script and the
 * commands it started go together. Never rejects: the caller decides what an
 * exit code means (the changer adapters and the snapshot providers read
 * failures differently).
 */
export function runArgv(file: string, args: readonly string[], options: ArgvOptions): Promise<ArgvOutcome> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: options.env, cwd: options.cwd ?? '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout = collect(child.stdout, options.outputMax);
    const stderr = collect(child.stderr, options.outputMax);
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // no group (any more): the child alone, if it is still there
      }
    }, options.timeoutMs);
    // Could not be started: settled here; a 'close' that may follow changes nothing.
    child.on('error', (error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ exitCode: null, signal: null, timedOut: false, startError: error, stdout: '', stderr: '' });
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ exitCode, signal, timedOut, stdout: stdout(), stderr: stderr() });
    });
  });
}

/** Everything a stream says, as text, up to `max` bytes. */
function collect(stream: Readable, max: number): () => string {
  const chunks: Buffer[] = [];
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    if (bytes >= max) return;
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8');
}
