import { z } from 'zod';
import type { VerifyJobRef, VerifyRequest } from '#core/jobs/verify-job.ts';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { toWorkflowError } from '#core/errors.ts';
import { asKind, type VerifyJob } from '#core/model/job.ts';
import { VerifyCommand } from '#core/model/verify-task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseOrThrow } from '#core/validation.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createVerifyHandler } from '#lambdas/verify-handler.ts';
import { runVerifyTask } from '#agent/verify/verify-task.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { loadVerifyJobDefinition } from './asl-definition.ts';
import { runInProcess, type TaskHandler } from './in-process-execution.ts';
import type { JobEngineDeps } from './job-engine.ts';

export interface VerifyRun {
  jobId?: number;
  statusCode: number;
  error?: string;
  /** The job as it ended: totals and problems. */
  job?: VerifyJob;
}

/** The `Parameters` the Verify state hands to ssm:SendCommand; here they go to the agent in this process. */
const SendCommandInput = z.object({ Parameters: z.object({ command: z.array(z.string()).length(1) }) });

/**
 * Runs one verify job through the real verify-job.asl.json in-process (as
 * restore-engine.ts runs restore jobs): Queue, Start and Record on the
 * verify handler, EndJob on the job manager's; the Verify state runs the
 * agent's verify in this process instead of through SSM, reporting to the
 * job record (`cairn jobs cancel` from another process stops it at its next
 * report, status 150).
 */
export async function runVerifyJob(runtime: JobEngineDeps, request: VerifyRequest, hooks: { onQueued?: (job: VerifyJobRef) => void } = {}): Promise<VerifyRun> {
  const jobsHandler = createJobsHandler(runtime);
  const verifyHandler = createVerifyHandler(runtime);
  const open = runtime.openStorageUnit ?? openStorageUnit;
  const agent: TaskHandler = async (input) => {
    try {
      const sent = parseOrThrow(SendCommandInput, input, 'ssm:sendCommand input');
      const command = parseOrThrow(VerifyCommand, JSON.parse(sent.Parameters.command[0]!), 'verify command');
      const abort = new AbortController();
      const reporter = jobRecordReporter({ jobs: runtime.jobs, jobId: command.task.jobId, clock: runtime.clock, abort, heartbeat: async () => undefined });
      return await runVerifyTask(command.task, { openStore: open, reporter, signal: abort.signal });
    } catch (error) {
      throw toWorkflowError(error);
    }
  };
  const end = await runInProcess(loadVerifyJobDefinition(), { request: { owner: runtime.owner, ...request } }, {
    queue: async (input) => (await verifyHandler(input)) as VerifyJobRef,
    onQueued: hooks.onQueued,
    states: {
      Start: (input) => verifyHandler(input),
      Verify: agent,
      Record: (input) => verifyHandler(input),
      EndJob: (input) => jobsHandler(input),
    },
  });
  if (end.jobId === undefined) return { statusCode: end.statusCode, error: end.error };
  const job = asKind(await runtime.jobs.get(end.jobId), 'verify');
  return { jobId: end.jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, error: job?.error ?? end.error, job };
}
