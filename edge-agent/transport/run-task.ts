import { BackupTask, type TaskReporter } from '#core/model/task.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { recordProgress } from '#core/jobs/job-service.ts';
import { parseOrThrow } from '#core/validation.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { TaskGoneError, type TaskToken } from '#core/ports/task-token.ts';
import { runBackup } from '../image/backup.ts';

/** How often the agent tells Step Functions it is alive; well inside the Stream state's HeartbeatSeconds. */
const HEARTBEAT_MS = 60_000;

export interface RunTaskOptions {
  /** The backup task as JSON, as the workflow sent it. */
  task: string;
}

/** The adapters the agent runs with, built by its entry point (main.ts). */
export interface RunTaskAdapters {
  /** The task token of this task: heartbeats and the final answer. */
  token: TaskToken;
  /** The job store for progress reports; without it only heartbeats are sent. */
  jobs?: JobStore;
  /** Opens the task's storage unit (and an incremental's base unit). */
  openStore: StorageUnitOpener;
}

/**
 * The cloud runtime's agent entry (`cairn-agent run-task`, run by the SSM
 * document): runs the backup, heartbeats, reports progress to the job record,
 * and ends the task token with the result or a `Status<code>` failure. When
 * the workflow stops waiting (timed out, cancelled) the backup is aborted.
 * Returns the status code as the process exit status.
 */
export async function runTask(options: RunTaskOptions, adapters: RunTaskAdapters): Promise<number> {
  const { token, jobs, openStore } = adapters;
  const abort = new AbortController();
  let task: BackupTask;
  try {
    task = parseOrThrow(BackupTask, JSON.parse(options.task), 'backup task');
  } catch (error) {
    const failure = error instanceof CairnError ? error : new CairnError(20, `the task is not JSON: ${messageOf(error)}`, { cause: error });
    await token.fail(failure);
    return failure.statusCode;
  }
  const heartbeat = async (): Promise<void> => {
    try {
      await token.heartbeat();
    } catch (error) {
      if (error instanceof TaskGoneError) abort.abort(error);
      else throw error;
    }
  };
  const reporter: TaskReporter = {
    progress: async (update) => {
      if (!jobs) return;
      // `cairn jobs cancel` ends the job record; the agent stops at its next report.
      const job = await jobs.get(task.jobId);
      if (job?.state === 'DONE') abort.abort(new Error(`job ${task.jobId} was ended (status ${job.statusCode})`));
      else await recordProgress(jobs, task.jobId, update, new Date());
    },
    heartbeat,
  };
  const timer = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_MS);
  try {
    const result = await runBackup(task, { store: await openStore(task.storageUnit), openStore, reporter, now: () => new Date(), signal: abort.signal });
    await token.succeed(result);
    return result.statusCode;
  } catch (error) {
    // A workflow that stopped waiting needs no answer; any other failure (a cancel included) is reported with its status.
    if (!(abort.signal.reason instanceof TaskGoneError)) await token.fail(error);
    return statusOf(error);
  } finally {
    clearInterval(timer);
  }
}
