import type { RestoreJobRef, RestoreRequest } from '#core/jobs/restore-job.ts';
import { CairnError } from '#core/errors.ts';
import { asKind, type RestoreJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createRestoreHandler } from '#lambdas/restore-handler.ts';
import { realTapeDevices, runMount, runUnmount } from '#agent/tape/mount.ts';
import { runTapeRestoreRead } from '#agent/tape/tape-restore-read.ts';
import { indexRestorePlanner } from '#agent/tape/tape-restore-plan.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { loadRestoreJobDefinition } from './asl-definition.ts';
import { inProcessAgent, runInProcess } from './in-process-execution.ts';
import type { JobEngineDeps } from './job-engine.ts';

export interface RestoreRun {
  jobId?: number;
  statusCode: number;
  error?: string;
  /** The job as it ended: its volumes, totals and what was not restored. */
  job?: RestoreJob;
}

export interface RestoreHooks {
  /** Called once the job has its id, before any drive is reserved. */
  onQueued?: (job: RestoreJobRef) => void;
}

/**
 * Runs one restore job of a tape image through the real
 * restore-job.asl.json in-process (as local/job-engine.ts runs backups):
 * Queue, Plan, Reserve, RecordRead on the restore handler, Release on the
 * broker's, EndJob on the job manager's, wired to the runtime's stores; the
 * Mount, Read and Unmount states run the edge agent in this process
 * instead of through SSM. `cairn jobs cancel` from another process ends the
 * job record; the Read stops at its next progress report and the job
 * unmounts and releases.
 */
export async function runRestoreJob(runtime: JobEngineDeps, request: RestoreRequest, hooks: RestoreHooks = {}): Promise<RestoreRun> {
  const jobsHandler = createJobsHandler(runtime);
  const brokerHandler = createBrokerHandler(runtime);
  const open = runtime.openStorageUnit ?? openStorageUnit;
  // The index is on this machine's reach: Plan mounts only the volumes the restore reads.
  const restoreHandler = createRestoreHandler({ ...runtime, planner: indexRestorePlanner(open) });
  const devices = runtime.tapeDevices ?? realTapeDevices;

  const agent = inProcessAgent(runtime, ({ reporter, signal }) => ({
    backup: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a backup command')),
    restore: (task) => runTapeRestoreRead(task, { openStore: open, reporter, signal }, devices),
    mount: (task) => runMount(task, devices, () => runtime.clock.now()),
    unmount: (task) => runUnmount(task, devices),
    continueBackup: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a continue-backup command')),
    snapshot: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a snapshot command')),
    deleteSnapshot: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a delete-snapshot command')),
  }));

  const end = await runInProcess(loadRestoreJobDefinition(), { request: { owner: runtime.owner, ...request } }, {
    queue: async (input) => (await restoreHandler(input)) as RestoreJobRef,
    onQueued: hooks.onQueued,
    states: {
      Plan: (input) => restoreHandler(input),
      Reserve: (input) => restoreHandler(input),
      Mount: agent,
      Read: agent,
      RecordRead: (input) => restoreHandler(input),
      NextCopy: (input) => restoreHandler(input),
      Unmount: agent,
      Release: (input) => brokerHandler(input),
      EndJob: (input) => jobsHandler(input),
    },
  });
  if (end.jobId === undefined) return { statusCode: end.statusCode, error: end.error };
  const job = asKind(await runtime.jobs.get(end.jobId), 'restore');
  return { jobId: end.jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, error: job?.error ?? end.error, job };
}
