import type { Context } from 'aws-lambda';
import type { UsageDelta } from '#core/model/job-usage.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { messageOf } from '#core/errors.ts';
import type { TaskHandler } from './handler-kit.ts';

export interface UsageRecordingDeps {
  jobs: JobStore;
  /** What the function's SDK clients counted since the last call (aws/usage-meter.ts `take`). */
  takeUsage: () => UsageDelta;
  /** A monotonic clock in milliseconds (`performance.now`), for the handler's own duration. */
  elapsedMs: () => number;
  /** The CPU architecture the function runs on (`process.arch`): Arm and x86 duration are priced apart. */
  arch: string;
  /** Told of a usage write that failed; the invocation's own result stands. */
  onFailure?: (error: unknown) => void;
}

/**
 * Wraps a workflow Task handler so that each invocation adds what it used to
 * its job (`JobStore.recordUsage`): one invocation, its duration measured
 * from the handler's start to this write and rounded up to the millisecond
 * (Lambda's billing granularity), that times the function's memory size, a
 * cold start when it is the first invocation of this execution environment,
 * and the DynamoDB requests and units its clients counted. The job is the
 * input's `jobId`, or for Queue the `jobId` of its result; an invocation
 * with neither (a request rejected before a job existed) records nothing.
 *
 * What the write itself takes, the runtime's overhead around the handler and
 * a cold start's init phase are billed but not in the figure (docs/cost.md).
 * A failed usage write is reported to `onFailure` and does not fail the
 * Task: the job matters more than its bill.
 */
export function withUsageRecording<O>(handler: TaskHandler<unknown, O>, deps: UsageRecordingDeps): TaskHandler<unknown, O> {
  let coldStart = true;
  return async (event, context) => {
    const startedAt = deps.elapsedMs();
    deps.takeUsage(); // What earlier invocations left (their own usage writes) is not this one's.
    const first = coldStart;
    coldStart = false;
    let result: O | undefined;
    try {
      result = await handler(event, context);
      return result;
    } finally {
      const jobId = jobIdOf(event) ?? jobIdOf(result);
      if (jobId !== undefined) {
        const billedMs = Math.max(1, Math.ceil(deps.elapsedMs() - startedAt));
        const memoryMb = memoryOf(context);
        const mbMs = memoryMb * billedMs;
        const usage: UsageDelta = {
          ...deps.takeUsage(),
          lambdaInvocations: 1,
          lambdaColdStarts: first ? 1 : 0,
          lambdaBilledMs: billedMs,
          ...(deps.arch === 'arm64' ? { lambdaArmMbMs: mbMs } : { lambdaX86MbMs: mbMs }),
        };
        await deps.jobs.recordUsage(jobId, usage).catch((error: unknown) => deps.onFailure?.(error));
      }
    }
  };
}

function jobIdOf(value: unknown): number | undefined {
  const jobId = (value as { jobId?: unknown } | null | undefined)?.jobId;
  return typeof jobId === 'number' && Number.isSafeInteger(jobId) && jobId >= 1 ? jobId : undefined;
}

/** The function's configured memory (MB), from the invocation context Lambda passes; 0 outside Lambda. */
function memoryOf(context: Context | undefined): number {
  const memory = Number(context?.memoryLimitInMB);
  return Number.isFinite(memory) && memory > 0 ? memory : 0;
}

/** A usage write that failed, as one JSON log line (the functions log JSON). */
export function logUsageFailure(error: unknown): void {
  console.error(JSON.stringify({ message: 'could not record the job usage', error: messageOf(error) }));
}
