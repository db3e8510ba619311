import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import type { BackupRun } from '#local/job-engine.ts';
import type { LocalRuntime } from '#local/runtime.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { fsReason } from './errno-text.ts';

/** What the CLI talks to: the standalone runtime on this machine, or a deployed stack. */
export interface Backend {
  kind: 'local' | 'aws';
  config: ConfigStore;
  jobs: JobStore;
  catalog: CatalogStore;
  media: MediaStore;
  clock: Clock;
  /** Starts a backup job and resolves when it has ended. */
  runBackup(request: Record<string, unknown>, hooks: { onQueued?: (job: JobRef) => void }): Promise<BackupRun>;
  close(): void;
}

export interface GlobalOptions {
  home?: string;
  aws?: boolean;
  region?: string;
  profile?: string;
  endpoint?: string;
  stack?: string;
  json?: boolean;
}

export async function openBackend(options: GlobalOptions): Promise<Backend> {
  if (options.aws) {
    const { openAwsBackend } = await import('./aws-backend.ts');
    return openAwsBackend(options);
  }
  const { runBackupJob } = await import('#local/job-engine.ts');
  const { runJanitor } = await import('#local/janitor.ts');
  const runtime = await openStandaloneRuntime(options.home);
  // Every command starts from a consistent state: what a killed process left is ended and removed first.
  await runJanitor(runtime);
  return {
    kind: 'local',
    config: runtime.config,
    jobs: runtime.jobs,
    catalog: runtime.catalog,
    media: runtime.media,
    clock: runtime.clock,
    runBackup: (request, hooks) => runBackupJob(runtime, request, hooks),
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
