import { runArgv } from '../tools/run-argv.ts';
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
 * The real runner, on the agent's one tool runner (tools/run-argv.ts: argv,
 * stdin /dev/null, process group killed past the timeout). A provider reads
 * the exit code as data and fails with 156 itself. LC_ALL=C keeps the tools' messages in English, so
 * the few a provider reads ("Failed to find logical volume") match; the tool
 * runs in its own process group, killed whole past the timeout.
 */
export async function runTool(file: string, args: readonly string[], timeoutMs = DEFAULT_TOOL_TIMEOUT_MS): Promise<ToolResult> {
  const env = { ...process.env, LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };
  const outcome = await runArgv(file, args, { env, timeoutMs, outputMax: OUTPUT_MAX });
  if (outcome.startError) return { exitCode: 127, stdout: '', stderr: `${file}: ${outcome.startError.message}` };
  const killed = outcome.timedOut ? `${file}: killed after ${timeoutMs} ms` : outcome.signal ? `${file}: killed by ${outcome.signal}` : '';
  return { exitCode: outcome.exitCode ?? 128 + 9, stdout: outcome.stdout, stderr: [outcome.stderr, killed].filter(Boolean).join('\n') };
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
