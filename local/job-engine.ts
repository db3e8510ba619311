import './polyfills.ts';
import { StateMachine } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { commandJobId, parseAgentCommand } from '#core/model/agent-command.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { CairnError, messageOf, statusOf, toWorkflowError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import { imageWrittenBy } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createCatalogHandler } from '#lambdas/catalog-handler.ts';
import { runBackupOnUnit } from '#agent/tape/tape-backup.ts';
import { realTapeDevices, runMount, runUnmount, type TapeDevices } from '#agent/tape/mount.ts';
import { runTapeRestoreRead } from '#agent/tape/tape-restore-read.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { dispatchCommand } from '#agent/transport/dispatch.ts';
import { MemoryRendezvous } from '#agent/tape/spanning/memory-rendezvous.ts';
import { SpanningBackup } from '#agent/tape/spanning/spanning-backup.ts';
import { loadBackupJobDefinition } from './asl-definition.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';

/** What the engine runs against: the standalone runtime's SQLite stores, or (in tests) any adapters of the same ports. */
export interface JobEngineDeps {
  config: ConfigStore;
  jobs: JobStore;
  catalog: CatalogStore;
  media: MediaStore;
  clock: Clock;
  /** Recorded on each job this process runs, for orphan detection. */
  owner: string;
  /** Opens a task's storage unit for the in-process agent (default `local/open-storage-unit.ts`; tests wrap it with faults). */
  openStorageUnit?: StorageUnitOpener;
  /** The media manager (EMM): tape units' drives and volumes. Without it a tape unit's job fails (174). */
  emm?: MediaDatabase;
  /** How the in-process agent reaches robots and drives (default: the real changer and drive adapters; tests may wrap them). */
  tapeDevices?: TapeDevices;
  /** How long a stopped agent waits for an upload to stop before it leaves it to the janitor (runBackup's default unless given). */
  abortGraceMs?: number;
}

/** The `Parameters` the Stream, Continue, Mount and Unmount states hand to ssm:SendCommand; locally they go to the in-process agent. */
const SendCommandInput = z.object({
  Parameters: z.object({ command: z.array(z.string()).length(1), taskToken: z.array(z.string()).length(1) }),
});

export interface BackupRun {
  jobId?: number;
  statusCode: number;
  backupId?: string;
  error?: string;
}

export interface RunHooks {
  /** Called once the job has its id, before it is granted resources. */
  onQueued?: (job: JobRef) => void;
}

/**
 * Runs one backup job through the real backup-job.asl.json in-process. Every
 * Task state runs the same handler code as the Lambdas, wired to SQLite; the
 * Stream, Continue, Mount and Unmount states run the edge agent in this
 * process instead of through SSM.
 *
 * Spanning in process: the Stream state starts the backup and ends with its
 * first outcome (its result, or a volume-full while the backup keeps
 * running and waits); each Continue state hands the waiting backup its next
 * volume through a MemoryRendezvous and ends with the next outcome. Unmount
 * (every path out of a granted tape job) first tells a backup still waiting
 * that no volume comes and waits for it to end, and so does the end of the
 * run: no backup outlives its job.
 */
export async function runBackupJob(runtime: JobEngineDeps, request: Record<string, unknown>, hooks: RunHooks = {}): Promise<BackupRun> {
  const jobsHandler = createJobsHandler(runtime);
  const brokerHandler = createBrokerHandler(runtime);
  const catalogHandler = createCatalogHandler(runtime);
  let jobId: number | undefined;
  let rejected: unknown;
  const open = runtime.openStorageUnit ?? openStorageUnit;
  const devices = runtime.tapeDevices ?? realTapeDevices;
  const rendezvous = new MemoryRendezvous();
  const backups = new Map<number, SpanningBackup>();
  let backupsStarted = 0;
  const stopWaiting = async (jobId: number, reason: string): Promise<void> => {
    await rendezvous.withdraw(jobId, reason);
    await backups.get(jobId)?.ended;
    backups.delete(jobId);
  };

  const stream = async (input: unknown): Promise<unknown> => {
    try {
      const sent = parseOrThrow(SendCommandInput, input, 'ssm:sendCommand input');
      const command = parseAgentCommand(sent.Parameters.command[0]!);
      const jobId = commandJobId(command);
      const cancelled = new AbortController();
      // `cairn jobs cancel` from another process ends the job record; the agent stops at its next report.
      // In-process the agent's liveness is this process's own: no workflow heartbeat.
      const reporter = jobRecordReporter({ jobs: runtime.jobs, jobId, clock: runtime.clock, abort: cancelled, heartbeat: async () => undefined });
      return await dispatchCommand(command, {
        backup: async (task) => {
          const store = await open(task.storageUnit);
          const backup = new SpanningBackup({ jobId, waiter: `local-${jobId}-${++backupsStarted}`, rendezvous, spanWaitSeconds: task.tape?.spanWaitSeconds, now: () => runtime.clock.now() });
          backups.set(jobId, backup);
          backup.start((volumes) => runBackupOnUnit(task, { store, openStore: open, now: () => runtime.clock.now(), signal: cancelled.signal, reporter, abortGraceMs: runtime.abortGraceMs }, devices, volumes));
          return backup.next();
        },
        continueBackup: async (task) => {
          const backup = backups.get(jobId);
          await rendezvous.offer(jobId, task.waiter, { tape: task.tape });
          return backup!.next();
        },
        restore: async (task) => runTapeRestoreRead(task, { openStore: open, reporter, signal: cancelled.signal }, devices),
        mount: (task) => runMount(task, devices, () => runtime.clock.now()),
        unmount: async (task) => {
          await stopWaiting(jobId, 'the job is unmounting its drive');
          return runUnmount(task, devices);
        },
      });
    } catch (error) {
      throw toWorkflowError(error);
    }
  };

  // Not validated here: compiling asl-validator's JSON schema (ajv) took about
  // 0.4 s of every backup's start. The definition is a file of ours that
  // test/statemachines/backup-job-asl.test.ts validates in full (paths too).
  const machine = new StateMachine(loadBackupJobDefinition() as never, { validationOptions: { noValidate: true } });
  const execution = machine.run(
    { request: { owner: runtime.owner, ...request } },
    {
      context: { Task: { Token: 'local' } } as never,
      overrides: {
        // The interpreter types handlers as JSON in, JSON out; ours return plain data objects.
        taskResourceLocalHandlers: {
          Queue: async (input: unknown) => {
            try {
              const ref = (await jobsHandler(input)) as JobRef;
              jobId = ref.jobId;
              hooks.onQueued?.(ref);
              return ref;
            } catch (failure) {
              rejected = failure;
              throw failure;
            }
          },
          Reserve: (input: unknown) => brokerHandler(input),
          Mount: stream,
          Stream: stream,
          ReserveNextVolume: (input: unknown) => brokerHandler(input),
          MountNextVolume: stream,
          Continue: stream,
          Unmount: stream,
          Catalog: (input: unknown) => catalogHandler(input),
          Release: (input: unknown) => brokerHandler(input),
          RetryDecision: (input: unknown) => jobsHandler(input),
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
  } finally {
    for (const waiting of [...backups.keys()]) await stopWaiting(waiting, 'its job has ended');
  }
  if (jobId === undefined) {
    const cause = rejected instanceof Error && rejected.cause instanceof CairnError ? rejected.cause : rejected;
    return { statusCode: statusOf(cause), error: cause === undefined ? (error ?? 'the job was not queued') : messageOf(cause) };
  }
  const job = await runtime.jobs.get(jobId);
  return { jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, backupId: job && imageWrittenBy(job), error: job?.error ?? error };
}
