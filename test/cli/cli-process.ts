import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const cairnBin = new URL('../../bin/cairn.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cairn --home HOME ...args` as an operator would: a real process. Never rejects on a non-zero exit. */
export async function runCairn(home: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cairnBin, '--home', home, ...args], { maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts `cairn --home HOME ...args` without waiting, for tests that kill it. */
export function spawnCairn(home: string, args: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [cairnBin, '--home', home, ...args], { stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited };
}

/**
 * The environment `cairn --aws` reads its deployment from, for tables made
 * on the emulator by createTables: what a deployed stack's outputs would
 * give. `extra` adds or overrides (a real state machine's ARN, the agent role).
 */
export function cliAwsEnv(tables: { config: string; jobs: string; catalog: string; media: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    CAIRN_CONFIG_TABLE: tables.config,
    CAIRN_JOBS_TABLE: tables.jobs,
    CAIRN_CATALOG_TABLE: tables.catalog,
    CAIRN_MEDIA_TABLE: tables.media,
    CAIRN_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:backup-job',
    ...extra,
  };
}
