import type { DuplicateJobRef, DuplicateJobRequest } from '#core/jobs/duplicate-job.ts';
import { CairnError } from '#core/errors.ts';
import { asKind, type DuplicateJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createDuplicateHandler } from '#lambdas/duplicate-handler.ts';
import { runDuplicateTask } from '#agent/duplicate/duplicate-task.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { loadDuplicateJobDefinition } from './asl-definition.ts';
import { inProcessAgent, runInProcess } from './in-process-execution.ts';
import type { JobEngineDeps } from './job-engine.ts';

export interface DuplicateRun {
  jobId?: number;
  statusCode: number;
  error?: string;
  /** The job as it ended: the copy number, or the failure. */
  job?: DuplicateJob;
}

/**
 * Runs one duplicate job through the real duplicate-job.asl.json in-process
 * (as verify-engine.ts runs verify jobs): Queue, Start and Record on the
 * duplicate handler, EndJob on the job manager's; the Copy state runs the
 * agent's Copy step in this process instead of through SSM, reporting to
 * the job record. The cloud runtime's duplicate job, run where the test or
 * the operator is; the standalone tick still copies with
 * local/duplicate-job.ts (which also reaches tape units).
 */
export async function runDuplicateJob(runtime: JobEngineDeps, request: DuplicateJobRequest, hooks: { onQueued?: (job: DuplicateJobRef) => void } = {}): Promise<DuplicateRun> {
  const jobsHandler = createJobsHandler(runtime);
  const duplicateHandler = createDuplicateHandler(runtime);
  const open = runtime.openStorageUnit ?? openStorageUnit;
  const refuse = (kind: string) => () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, `a duplicate job sent the agent a ${kind} command`));
  const agent = inProcessAgent(runtime, ({ reporter, signal }) => ({
    duplicate: (task) => runDuplicateTask(task, { openStore: open, reporter, signal }),
    backup: refuse('backup'),
    restore: refuse('restore'),
    mount: refuse('mount'),
    unmount: refuse('unmount'),
    continueBackup: refuse('continue-backup'),
    snapshot: refuse('snapshot'),
    deleteSnapshot: refuse('delete-snapshot'),
  }));
  const end = await runInProcess(loadDuplicateJobDefinition(), { request: { owner: runtime.owner, ...request } }, {
    queue: async (input) => (await duplicateHandler(input)) as DuplicateJobRef,
    onQueued: hooks.onQueued,
    states: {
      Start: (input) => duplicateHandler(input),
      Copy: agent,
      Record: (input) => duplicateHandler(input),
      EndJob: (input) => jobsHandler(input),
    },
  });
  if (end.jobId === undefined) return { statusCode: end.statusCode, error: end.error };
  const job = asKind(await runtime.jobs.get(end.jobId), 'duplicate');
  return { jobId: end.jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, error: job?.error ?? end.error, job };
}
