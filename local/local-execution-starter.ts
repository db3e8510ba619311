import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import type { Clock } from '#core/ports/clock.ts';
import { assertExecutionName, type ExecutionStarter, type StartOutcome } from '#core/ports/execution-starter.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupRun } from './job-engine.ts';
import { runPolicyBackup } from './multi-stream-job.ts';
import type { LocalRuntime } from './runtime.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/** How an execution this starter started ended: the workflow's result, or what it threw. */
export type ExecutionEnd<R> = { result: R } | { error: unknown };

export interface LocalExecutionStarterOptions<R> {
  /** The database that holds the claims (`execution_starts`): shared by every process of one CAIRN_HOME. */
  db: SqliteDatabase;
  clock: Clock;
  /** Runs one execution with its input (as JSON round-trips it) and name; in the standalone service, the backup-job workflow. */
  execute: (input: unknown, name: string) => Promise<R>;
  /** Told when an execution this starter started has ended. */
  onEnded?: (name: string, end: ExecutionEnd<R>) => void;
}

/**
 * ExecutionStarter of the standalone runtime, with Step Functions' name rules:
 * a name is claimed atomically in SQLite (a row keyed by the name), so of any
 * number of starts of one name, from any number of ticks or processes,
 * exactly one answers 'started' and runs the execution, in the background of
 * this process; every other answers 'already-started' and runs nothing. A
 * claim is never given back (Step Functions keeps a closed execution's name
 * for 90 days; ours are built from due instants and never come round again).
 */
export class LocalExecutionStarter<R = unknown> implements ExecutionStarter {
  readonly #options: LocalExecutionStarterOptions<R>;
  readonly #running = new Set<Promise<void>>();

  constructor(options: LocalExecutionStarterOptions<R>) {
    this.#options = options;
  }

  async start(name: string, input: unknown): Promise<StartOutcome> {
    assertExecutionName(name);
    const json = JSON.stringify(input ?? null);
    if (!this.#claim(name, json)) return 'already-started';
    const execution = (async (): Promise<ExecutionEnd<R>> => {
      try {
        return { result: await this.#options.execute(JSON.parse(json), name) };
      } catch (error) {
        return { error };
      }
    })().then((end) => this.#options.onEnded?.(name, end));
    const tracked = execution.finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
    return 'started';
  }

  /** Resolves once every execution this starter started has ended (`cairn local serve --once`, shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  /** One INSERT: SQLite serialises writers, so exactly one claim of a name succeeds, across processes too. */
  #claim(name: string, json: string): boolean {
    try {
      const claimed = this.#options.db
        .prepare('INSERT INTO execution_starts (name, started_at, input) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
        .run(name, this.#options.clock.now().toISOString(), json);
      return claimed.changes === 1;
    } catch (error) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `claiming execution ${name} failed: ${messageOf(error)}`, { cause: error });
    }
  }
}

/**
 * The standalone service's starter: an execution is the backup-job workflow
 * run in-process (job-engine.ts) with the execution input's `request`; for a
 * policy with multiple data streams, its parent job and one such workflow per
 * stream (multi-stream-job.ts).
 */
export function backupJobStarter(runtime: LocalRuntime, onEnded?: (name: string, run: BackupRun) => void): LocalExecutionStarter<BackupRun> {
  return new LocalExecutionStarter<BackupRun>({
    db: runtime.db,
    clock: runtime.clock,
    execute: async (input) => {
      const request = (input as { request?: unknown } | null)?.request;
      if (typeof request !== 'object' || request === null) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'a backup-job execution needs { request: {...} } as its input');
      return runPolicyBackup(runtime, request as Record<string, unknown>);
    },
    onEnded: (name, end) => onEnded?.(name, 'result' in end ? end.result : { statusCode: statusOf(end.error), error: messageOf(end.error) }),
  });
}
