import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Job } from '#core/model/job.ts';
import { emptyUsage, UsageCounters, type JobUsage } from '#core/model/job-usage.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { billedTransitions } from './sfn-execution-history.ts';
import { executionArnOf } from './sfn-execution-status.ts';

export interface JobUsageSources {
  jobs: JobStore;
  sfn: SFNClient;
  /** The backup-job state machine; the job's execution is `executionName` of it. */
  stateMachineArn: string;
  /** The job's execution, when the job record does not name it (jobs started before it did). */
  executionName?: string;
}

/**
 * A cloud job's usage from where each part is measured: the Lambdas' records
 * (`JobStore.usage`), the agent's report (`progress.usage`), and the billed
 * state transitions of the job's execution (its history). A history that
 * cannot be had is said, not guessed.
 */
export async function readJobUsage(job: Job, sources: JobUsageSources): Promise<JobUsage> {
  const lambdas = await sources.jobs.usage(job.jobId);
  const agent = job.progress.usage === undefined ? emptyUsage() : UsageCounters.parse(job.progress.usage);
  const name = job.executionName ?? sources.executionName;
  if (name === undefined) return { lambdas, agent, stateTransitions: { unknown: 'the job record names no execution' } };
  const billed = await billedTransitions(sources.sfn, executionArnOf(sources.stateMachineArn, name));
  return { lambdas, agent, stateTransitions: billed ?? { unknown: `Step Functions does not know the execution ${name} (it keeps ended executions for 90 days)` } };
}

/** The region of a Step Functions ARN (`arn:<partition>:states:<region>:...`): the stack's region, whose prices apply. */
export function regionOfArn(arn: string): string {
  return arn.split(':')[3] ?? '';
}
