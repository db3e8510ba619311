import { join } from 'node:path';
import type { VerifyJobRef, VerifyRequest } from '#core/jobs/verify-job.ts';
import { CairnError } from '#core/errors.ts';
import { asKind, type VerifyJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createVerifyHandler } from '#lambdas/verify-handler.ts';
import { runVerifyTask } from '#agent/verify/verify-task.ts';
import { realTapeDevices, runMount, runUnmount } from '#agent/tape/mount.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { loadVerifyJobDefinition } from './asl-definition.ts';
import { inProcessAgent, runInProcess } from './in-process-execution.ts';
import type { JobEngineDeps } from './job-engine.ts';

export interface VerifyRun {
  jobId?: number;
  statusCode: number;
  error?: string;
  /** The job as it ended: totals and problems. */
  job?: VerifyJob;
}

/**
 * Runs one verify job through the real verify-job.asl.json in-process (as
 * restore-engine.ts runs restore jobs): Queue, Start, Record, Plan, Reserve
 * and RecordRead on the verify handler, Release on the broker's, EndJob on
 * the job manager's; the Verify, Mount, Read and Unmount states run the
 * agent in this process instead of through SSM, reporting to the job record
 * (`cairn jobs cancel` from another process stops a Verify or Read at its
 * next report, status 150; a tape job then unmounts and releases).
 */
export async function runVerifyJob(runtime: JobEngineDeps, request: VerifyRequest, hooks: { onQueued?: (job: VerifyJobRef) => void } = {}): Promise<VerifyRun> {
  const jobsHandler = createJobsHandler(runtime);
  const brokerHandler = createBrokerHandler(runtime);
  const verifyHandler = createVerifyHandler(runtime);
  const open = runtime.openStorageUnit ?? openStorageUnit;
  const devices = runtime.tapeDevices ?? realTapeDevices;
  const refuse = (kind: string) => () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, `a verify job sent the agent a ${kind} command`));
  const agent = inProcessAgent(runtime, ({ reporter, signal }) => ({
    // A rehearsal restores into $CAIRN_HOME/rehearsals unless its policy or request names a scratch directory.
    // A rehearsal of an image only on tape reserves a drive of its robot through the broker, under its job, as a tape restore does.
    verify: (task) =>
      runVerifyTask(task, {
        openStore: open,
        reporter,
        signal,
        devices,
        ...(runtime.home === undefined ? {} : { defaultScratch: join(runtime.home, 'rehearsals') }),
        ...(runtime.emm ? { tape: { config: runtime.config, media: runtime.media, emm: runtime.emm, devices, now: () => runtime.clock.now() } } : {}),
      }),
    mount: (task) => runMount(task, devices, () => runtime.clock.now()),
    unmount: (task) => runUnmount(task, devices),
    backup: refuse('backup'),
    restore: refuse('restore'),
    continueBackup: refuse('continue-backup'),
    snapshot: refuse('snapshot'),
    deleteSnapshot: refuse('delete-snapshot'),
  }));
  const end = await runInProcess(loadVerifyJobDefinition(), { request: { owner: runtime.owner, ...request } }, {
    queue: async (input) => (await verifyHandler(input)) as VerifyJobRef,
    onQueued: hooks.onQueued,
    states: {
      Start: (input) => verifyHandler(input),
      Verify: agent,
      Record: (input) => verifyHandler(input),
      Plan: (input) => verifyHandler(input),
      Reserve: (input) => verifyHandler(input),
      Mount: agent,
      Read: agent,
      RecordRead: (input) => verifyHandler(input),
      Unmount: agent,
      Release: (input) => brokerHandler(input),
      EndJob: (input) => jobsHandler(input),
    },
  });
  if (end.jobId === undefined) return { statusCode: end.statusCode, error: end.error };
  const job = asKind(await runtime.jobs.get(end.jobId), 'verify');
  return { jobId: end.jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, error: job?.error ?? end.error, job };
}
