import type { JobRef } from '#core/jobs/job-service.ts';
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
import { MemoryRendezvous } from '#agent/tape/spanning/memory-rendezvous.ts';
import { SpanningBackup } from '#agent/tape/spanning/spanning-backup.ts';
import { loadBackupJobDefinition } from './asl-definition.ts';
import { inProcessAgent, runInProcess } from './in-process-execution.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { SnapshotAgent } from '#agent/snapshot/job-snapshots.ts';
import { runDeleteSnapshotStep, runSnapshotStep } from '#agent/snapshot/snapshot-steps.ts';
import { localSnapshotAgent } from './local-snapshots.ts';

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
  /** CAIRN_HOME: the in-process agent keeps its snapshot registry under it (local/local-snapshots.ts). */
  home?: string;
  /** The in-process agent's snapshot work (default: the real providers, the registry under `home`; tests wrap it). */
  snapshots?: SnapshotAgent;
}

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
 * Snapshot, Stream, Continue, Mount, Unmount and DeleteSnapshot states run
 * the edge agent in this process instead of through SSM (its snapshot
 * registry under CAIRN_HOME/agent, this process the owner of its images).
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
  const open = runtime.openStorageUnit ?? openStorageUnit;
  const devices = runtime.tapeDevices ?? realTapeDevices;
  const snapshots = runtime.snapshots ?? (runtime.home === undefined ? undefined : localSnapshotAgent(runtime.home));
  const rendezvous = new MemoryRendezvous();
  const backups = new Map<number, SpanningBackup>();
  let backupsStarted = 0;
  const stopWaiting = async (jobId: number, reason: string): Promise<void> => {
    await rendezvous.withdraw(jobId, reason);
    await backups.get(jobId)?.ended;
    backups.delete(jobId);
  };

  const stream = inProcessAgent(runtime, ({ jobId, reporter, signal }) => ({
    backup: async (task) => {
      const store = await open(task.storageUnit);
      const backup = new SpanningBackup({ jobId, waiter: `local-${jobId}-${++backupsStarted}`, rendezvous, spanWaitSeconds: task.tape?.spanWaitSeconds, now: () => runtime.clock.now() });
      backups.set(jobId, backup);
      backup.start((volumes) => runBackupOnUnit(task, { store, openStore: open, now: () => runtime.clock.now(), signal, reporter, abortGraceMs: runtime.abortGraceMs }, devices, volumes));
      return backup.next();
    },
    continueBackup: async (task) => {
      const backup = backups.get(jobId);
      await rendezvous.offer(jobId, task.waiter, { tape: task.tape });
      return backup!.next();
    },
    restore: async (task) => runTapeRestoreRead(task, { openStore: open, reporter, signal }, devices),
    mount: (task) => runMount(task, devices, () => runtime.clock.now()),
    unmount: async (task) => {
      await stopWaiting(jobId, 'the job is unmounting its drive');
      return runUnmount(task, devices);
    },
    snapshot: (task) => runSnapshotStep(task, snapshots, runtime.jobs),
    deleteSnapshot: (task) => runDeleteSnapshotStep(task, snapshots, runtime.jobs),
  }));

  const end = await runInProcess(loadBackupJobDefinition(), { request: { owner: runtime.owner, ...request } }, {
    queue: async (input) => (await jobsHandler(input)) as JobRef,
    onQueued: hooks.onQueued,
    states: {
      Reserve: (input) => brokerHandler(input),
      Snapshot: stream,
      DeleteSnapshot: stream,
      Mount: stream,
      Stream: stream,
      ReserveNextVolume: (input) => brokerHandler(input),
      MountNextVolume: stream,
      Continue: stream,
      Unmount: stream,
      Catalog: (input) => catalogHandler(input),
      Release: (input) => brokerHandler(input),
      RetryDecision: (input) => jobsHandler(input),
      EndJob: (input) => jobsHandler(input),
    },
    // No backup outlives its job.
    finally: async () => {
      for (const waiting of [...backups.keys()]) await stopWaiting(waiting, 'its job has ended');
    },
  });
  if (end.jobId === undefined) return { statusCode: end.statusCode, error: end.error };
  const job = await runtime.jobs.get(end.jobId);
  return { jobId: end.jobId, statusCode: job?.statusCode ?? StatusCode.INTERNAL_ERROR, backupId: job && imageWrittenBy(job), error: job?.error ?? end.error };
}
