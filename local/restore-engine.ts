import './polyfills.ts';
import { StateMachine } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { commandJobId, parseAgentCommand } from '#core/model/agent-command.ts';
import type { RestoreJobRef, RestoreRequest } from '#core/jobs/restore-job.ts';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { CairnError, messageOf, statusOf, toWorkflowError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import { asKind, type RestoreJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createRestoreHandler } from '#lambdas/restore-handler.ts';
import { realTapeDevices, runMount, runUnmount } from '#agent/tape/mount.ts';
import { runTapeRestoreRead } from '#agent/tape/tape-restore-read.ts';
import { indexRestorePlanner } from '#agent/tape/tape-restore-plan.ts';
import { dispatchCommand } from '#agent/transport/dispatch.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { loadRestoreJobDefinition } from './asl-definition.ts';
import type { JobEngineDeps } from './job-engine.ts';

/** The `Parameters` the Mount, Read and Unmount states hand to ssm:SendCommand; locally they go to the in-process agent. */
const SendCommandInput = z.object({
  Parameters: z.object({ command: z.array(z.string()).length(1), taskToken: z.array(z.string()).length(1) }),
});

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
  let jobId: number | undefined;
  let rejected: unknown;

  const agent = async (input: unknown): Promise<unknown> => {
    try {
      const sent = parseOrThrow(SendCommandInput, input, 'ssm:sendCommand input');
      const command = parseAgentCommand(sent.Parameters.command[0]!);
      const cancelled = new AbortController();
      const reporter = jobRecordReporter({ jobs: runtime.jobs, jobId: commandJobId(command), clock: runtime.clock, abort: cancelled, heartbeat: async () => undefined });
      return await dispatchCommand(command, {
        backup: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a backup command')),
        restore: (task) => runTapeRestoreRead(task, { openStore: open, reporter, signal: cancelled.signal }, devices),
        mount: (task) => runMount(task, devices, () => runtime.clock.now()),
        unmount: (task) => runUnmount(task, devices),
        continueBackup: () => Promise.reject(new CairnError(StatusCode.INTERNAL_ERROR, 'a restore job sent the agent a continue-backup command')),
      });
    } catch (error) {
      throw toWorkflowError(error);
    }
  };

  // Not validated here (the ajv compile is slow); test/statemachines/restore-job-asl.test.ts validates the file.
  const machine = new StateMachine(loadRestoreJobDefinition() as never, { validationOptions: { noValidate: true } });
  const execution = machine.run(
    { request: { owner: runtime.owner, ...request } },
    {
      context: { Task: { Token: 'local' } } as never,
      overrides: {
        taskResourceLocalHandlers: {
          Queue: async (input: unknown) => {
            try {
              const ref = (await restoreHandler(input)) as RestoreJobRef;
              jobId = ref.jobId;
              hooks.onQueued?.(ref);
              return ref;
            } catch (failure) {
              rejected = failure;
              throw failure;
            }
          },
          Plan: (input: unknown) => restoreHandler(input),
          Reserve: (input: unknown) => restoreHandler(input),
          Mount: agent,
          Read: agent,
          RecordRead: (input: unknown) => restoreHandler(input),
          Unmount: agent,
          Release: (input: unknown) => brokerHandler(input),
          EndJob: (input: unknown) => jobsHandler(input),
        } satisfies Record<string, (input: unknown) => Promise<unknown>> as never,
      },
    },
  );

  let error: string | undefined;
  try {
    await execution.result;
  } catch (failure) {
    error = failure instanceof Error ? (failure.cause instanceof Error ? failure.cause.message : failure.message) : String(failure);
  }
  if (jobId === undefined) {
    const cause = rejected instanceof Error && rejected.cause instanceof CairnError ? rejected.cause : rejected;
    return { statusCode: statusOf(cause), error: cause === undefined ? (error ?? 'the job was not queued') : messageOf(cause) };
  }
  const job = asKind(await runtime.jobs.get(jobId), 'restore');
  return { jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, error: job?.error ?? error, job };
}
