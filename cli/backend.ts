import type { LocalRuntime } from '#local/runtime.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { fsReason } from './errno-text.ts';
import type { Backend, GlobalOptions } from './backend-interface.ts';

export type { Backend, GlobalOptions } from './backend-interface.ts';

/** The backend a command runs against: the deployed stack with --aws, else the standalone runtime (its janitor run first). */
export async function openBackend(options: GlobalOptions): Promise<Backend> {
  if (options.aws) {
    const { openAwsBackend } = await import('./aws-backend.ts');
    return openAwsBackend(options);
  }
  const { runJanitor } = await import('#local/janitor.ts');
  const runtime = await openStandaloneRuntime(options.home);
  // Every command starts from a consistent state: what a killed process left is ended and removed first.
  await runJanitor(runtime);
  return localBackend(runtime);
}

/** The standalone runtime as a Backend: its stores, and its engines loaded when a command first runs a job. */
export function localBackend(runtime: LocalRuntime): Backend {
  return {
    kind: 'local',
    config: runtime.config,
    jobs: runtime.jobs,
    catalog: runtime.catalog,
    media: runtime.media,
    emm: runtime.emm,
    clock: runtime.clock,
    owner: runtime.owner,
    // The job engine brings the ASL interpreter (a fifth of a second to load): only commands that run a backup pay for it.
    runBackup: async (request, hooks) => (await import('#local/multi-stream-job.ts')).runPolicyBackup(runtime, request, hooks),
    runRestore: async (request, hooks) => (await import('#local/restore-engine.ts')).runRestoreJob(runtime, request, hooks),
    runVerify: async (request, hooks) => (await import('#local/verify-engine.ts')).runVerifyJob(runtime, request, hooks),
    duplicateDeps: async (options) => (await import('#local/duplicate-deps.ts')).localDuplicateDeps(runtime, options),
    close: () => runtime.close(),
  };
}

/**
 * The standalone runtime under --home / $CAIRN_HOME / ./.cairn. A state
 * directory that cannot be used (a parent is a file, no permission, read-only)
 * is status 20 naming the directory, where it came from and why.
 */
export async function openStandaloneRuntime(home: string | undefined): Promise<LocalRuntime> {
  const { openLocalRuntime, resolveCairnHome } = await import('#local/runtime.ts');
  try {
    return await openLocalRuntime({ home });
  } catch (error) {
    if (error instanceof CairnError) throw error;
    const source = home !== undefined ? '--home' : process.env.CAIRN_HOME !== undefined ? '$CAIRN_HOME' : 'state directory';
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${source} ${resolveCairnHome(home)}: cannot be used as the state directory: ${fsReason(error)}`, { cause: error });
  }
}

/** Opens the backend for one command and always closes it, whatever the command does. */
export async function withBackend<T>(globals: GlobalOptions, run: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackend(globals);
  try {
    return await run(backend);
  } finally {
    backend.close();
  }
}
