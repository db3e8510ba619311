import { assertExecutionName, type ExecutionStarter, type StartOutcome } from '#core/ports/execution-starter.ts';
import type { ExecutionState, ExecutionStatuses } from '#core/ports/execution-status.ts';

/** What one execution came to: the job's status (as the backup-job workflow's EndJob leaves it) and why. */
export interface ExecutionResult {
  statusCode: number;
  error?: string;
}

/**
 * Step Functions in this test process, for the cloud wiring on the emulator
 * (moto's Step Functions runs no Lambda code): `start` runs `execute` (the
 * real backup-job ASL in process, local/job-engine.ts, on the emulator's
 * stores) in the background with Step Functions' at-most-once by name, and
 * `describe` answers RUNNING until it has ended, then SUCCEEDED (status 0
 * or 1) or FAILED, as the execution's own EndJob would make it.
 */
export class InProcessExecutions implements ExecutionStarter, ExecutionStatuses {
  readonly #execute: (input: unknown, name: string) => Promise<ExecutionResult>;
  readonly #states = new Map<string, ExecutionState>();
  readonly #running = new Set<Promise<void>>();
  /** Every name started, in order. */
  readonly started: string[] = [];

  constructor(execute: (input: unknown, name: string) => Promise<ExecutionResult>) {
    this.#execute = execute;
  }

  async start(name: string, input: unknown): Promise<StartOutcome> {
    assertExecutionName(name);
    if (this.#states.has(name)) return 'already-started';
    this.#states.set(name, { status: 'RUNNING' });
    this.started.push(name);
    // As Step Functions hands the execution its input: JSON, never the caller's objects.
    const json = JSON.parse(JSON.stringify(input ?? null)) as unknown;
    const run = this.#execute(json, name).then(
      (result) => void this.#states.set(name, result.statusCode <= 1 ? { status: 'SUCCEEDED' } : { status: 'FAILED', error: `Status${result.statusCode}`, ...(result.error ? { cause: result.error } : {}) }),
      (error: unknown) => void this.#states.set(name, { status: 'FAILED', error: 'Error', cause: error instanceof Error ? error.message : String(error) }),
    );
    const tracked = run.finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
    return 'started';
  }

  async describe(name: string): Promise<ExecutionState | undefined> {
    const state = this.#states.get(name);
    return state && { ...state };
  }

  /** Resolves once every execution started so far (and any they started) has ended. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
