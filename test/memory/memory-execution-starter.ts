import { CairnError } from '#core/errors.ts';
import { assertExecutionName, type ExecutionStarter, type StartOutcome } from '#core/ports/execution-starter.ts';
import { StatusCode } from '#core/status-codes.ts';
import { io, stored } from './copy.ts';

/** What several starters share, as several scheduler ticks share one state machine. */
export class MemoryExecutions {
  /** Every execution ever started, by name, with its input as JSON round-trips it. */
  readonly started = new Map<string, unknown>();
  /** Every call of `start`, in order: what a tick asked for. */
  readonly calls: { name: string; input: unknown }[] = [];
  /** Names whose start fails (a throttled StartExecution), until removed. */
  readonly failing = new Set<string>();
}

/**
 * ExecutionStarter in memory, for tests and benchmarks only (see README.md),
 * with Step Functions' at-most-once by name: the name is checked and taken in
 * one synchronous step, so racing starts of one name start it once. It runs
 * nothing; `executions` holds what was started.
 */
export class MemoryExecutionStarter implements ExecutionStarter {
  readonly executions: MemoryExecutions;

  constructor(executions: MemoryExecutions = new MemoryExecutions()) {
    this.executions = executions;
  }

  async start(name: string, input: unknown): Promise<StartOutcome> {
    await io();
    this.executions.calls.push({ name, input: stored(input ?? null) });
    assertExecutionName(name);
    if (this.executions.failing.has(name)) throw new CairnError(StatusCode.INTERNAL_ERROR, `StartExecution ${name} failed: ThrottlingException`);
    if (this.executions.started.has(name)) return 'already-started';
    this.executions.started.set(name, stored(input ?? null));
    return 'started';
  }
}
