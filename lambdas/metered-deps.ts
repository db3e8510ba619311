import type { AwsClients } from '#aws/clients.ts';
import type { UsageMeter } from '#aws/usage-meter.ts';
import type { HandlerObservability } from './handler-kit.ts';
import type { LambdaEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { logUsageFailure, type UsageRecordingDeps } from './usage-recording.ts';

/**
 * The stores of a workflow Lambda (dynamoDeps) on clients that count their
 * billed requests into `meter` (created with it: observedLambda), and what `withUsageRecording` needs to add them, with the
 * invocation's own figures, to the job: the cost `cairn jobs show` prints.
 */
export function meteredDynamoDeps(env: LambdaEnvironment, clients: AwsClients, meter: UsageMeter, observability?: HandlerObservability) {
  const deps = dynamoDeps(env, clients, observability);
  const recording: UsageRecordingDeps = { jobs: deps.jobs, takeUsage: () => meter.take(), elapsedMs: () => performance.now(), arch: process.arch, onFailure: logUsageFailure };
  return { deps, recording };
}
