import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/** What a snapshot tool said: its exit code (127 when it could not start, 128 + signal number when it was killed, as a shell reports them) and its output. */
export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * How a provider runs `btrfs`, `findmnt`, `lvs`, `lvcreate`, `mount`, `zfs`...:
 * an argv, never a shell. It resolves whatever the exit code is, because a
 * provider reads some failures as answers (`lvs` of a device that is not a
 * logical volume exits 5; `findmnt -T` of a missing path exits 1). Unit tests
 * inject a recording runner that answers with real outputs of the tools.
 */
export type RunTool = (file: string, args: readonly string[]) => Promise<ToolResult>;

/** A snapshot or a mount may wait on udev or a busy device; past this the tool is killed. */
export const DEFAULT_TOOL_TIMEOUT_MS = 5 * 60 * 1000;

/** How much of a tool's output is kept (reports are kilobytes; `lvs` of a large site tens of kilobytes). */
const OUTPUT_MAX = 4 * 1024 * 1024;

/**
 * The real runner. Hand-written next to tape/changers/run-command.ts rather
 * than reusing it: that one rejects on a non-zero exit with a ChangerError
 * (status 174), while a provider needs the exit code as data and fails with
 * 156. Stdin is /dev/null; LC_ALL=C keeps the tools' messages in English, so
 * the few a provider reads ("Failed to find logical volume") match; the tool
 * runs in its own process group, killed whole past the timeout.
 */
export function runTool(file: string, args: readonly string[], timeoutMs = DEFAULT_TOOL_TIMEOUT_MS): Promise<ToolResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };
    const child = spawn(file, args, { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ exitCode: 127, stdout: '', stderr: `${file}: ${error.message}` });
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      const killed = timedOut ? `${file}: killed after ${timeoutMs} ms` : signal ? `${file}: killed by ${signal}` : '';
      resolve({ exitCode: exitCode ?? 128 + 9, stdout: stdout(), stderr: [stderr(), killed].filter(Boolean).join('\n') });
    });
  });
}

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

/** What a tool said, for a message: stderr then stdout, trimmed, the last 2000 characters (tools print the reason last). */
export function toolOutput(result: ToolResult): string {
  const text = [result.stderr.trim(), result.stdout.trim()].filter(Boolean).join('\n');
  return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}

/** A snapshot error (156) naming what failed, the command line and what the tool said. */
export function snapshotError(what: string, command: readonly string[], result?: ToolResult, cause?: unknown): CairnError {
  const how = result ? ` (exit code ${result.exitCode})` : '';
  const said = result && toolOutput(result) ? `: ${toolOutput(result)}` : '';
  return new CairnError(StatusCode.SNAPSHOT_ERROR, `${what}: \`${command.join(' ')}\` failed${how}${said}`, cause === undefined ? {} : { cause });
}

/** Runs a command that must succeed: its result, or a 156 naming it. */
export async function runOrFail(run: RunTool, what: string, file: string, args: readonly string[]): Promise<ToolResult> {
  const result = await run(file, args);
  if (result.exitCode !== 0) throw snapshotError(what, [file, ...args], result);
  return result;
}

/** A snapshot error (156) that no tool reported: a check of the provider's own failed. */
export function snapshotRefusal(message: string): CairnError {
  return new CairnError(StatusCode.SNAPSHOT_ERROR, message);
}
