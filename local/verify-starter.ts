import { messageOf, statusOf } from '#core/errors.ts';
import { loadDueInput } from '#core/schedule/tick.ts';
import { dueVerifies, scheduledVerifyRequest, type DueVerify } from '#core/schedule/verify-due.ts';
import { dueRehearsals, scheduledRehearsalRequest } from '#core/schedule/rehearsal-due.ts';
import { VerifyRequest } from '#core/jobs/verify-job.ts';
import { parseOrThrow } from '#core/validation.ts';
import { LocalExecutionStarter } from './local-execution-starter.ts';
import type { LocalRuntime } from './runtime.ts';
import { runVerifyJob, type VerifyRun } from './verify-engine.ts';

/**
 * The scheduler's verify side in the standalone runtime: each tick starts
 * the due verifies (core/schedule/verify-due.ts) and restore rehearsals
 * (core/schedule/rehearsal-due.ts), each a verify-job
 * execution claimed by name in SQLite like a backup's, so two ticks racing
 * start it once. Runs in the background; `settled` waits for them.
 */
export function localVerifyScheduler(runtime: LocalRuntime, onEnded?: (name: string, run: VerifyRun) => void) {
  const starter = new LocalExecutionStarter<VerifyRun>({
    db: runtime.db,
    clock: runtime.clock,
    execute: async (input) => runVerifyJob(runtime, parseOrThrow(VerifyRequest, (input as { request?: unknown } | null)?.request, 'verify-job execution input')),
    onEnded: (name, end) => onEnded?.(name, 'result' in end ? end.result : { statusCode: statusOf(end.error), error: messageOf(end.error) }),
  });
  return {
    /** Starts what is due now; returns the verifies (and restore rehearsals, `kind: 'rehearsal'`) it started. */
    async tick(): Promise<DueVerify[]> {
      const input = await loadDueInput(runtime, runtime.clock.now());
      const started: DueVerify[] = [];
      for (const job of dueVerifies(input).due) if ((await starter.start(job.executionName, { request: scheduledVerifyRequest(job) })) === 'started') started.push(job);
      // Restore rehearsals are verify-job executions too, named by their own due instant.
      for (const job of dueRehearsals(input).due) if ((await starter.start(job.executionName, { request: scheduledRehearsalRequest(job) })) === 'started') started.push(job);
      return started;
    },
    settled: () => starter.settled(),
  };
}
