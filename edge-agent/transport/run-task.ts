import { BackupTask } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { systemClock } from '#core/ports/clock.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { parseOrThrow } from '#core/validation.ts';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { SfnTaskReporter, TaskGoneError, sendTaskFailure, sendTaskSuccess } from '#aws/sfn-task-reporter.ts';
import { runBackup } from '../image/backup.ts';
import { openStorageUnit } from './open-storage-unit.ts';

/** How often the agent tells Step Functions it is alive; well inside the Stream state's HeartbeatSeconds. */
const HEARTBEAT_MS = 60_000;

export interface RunTaskOptions {
  taskToken: string;
  task: string;
  /** The Jobs table for progress reports; without it only heartbeats are sent. */
  jobsTable?: string;
  region?: string;
  endpoint?: string;
  /** The SDK clients to use (tests pass recording ones); by default made from region and endpoint, and destroyed at the end. */
  clients?: AwsClients;
  /** Opens the task's storage unit; default openStorageUnit. */
  openStore?: (unit: BackupTask['storageUnit']) => Promise<ObjectStore>;
}

/**
 * The cloud runtime's agent entry (`cairn-agent run-task`, run by the SSM
 * document): runs the backup, heartbeats, reports progress to the job record,
 * and ends the task token with the result or a `Status<code>` failure. When
 * the workflow stops waiting (timed out, cancelled) the backup is aborted.
 * Returns the status code as the process exit status.
 */
export async function runTask(options: RunTaskOptions): Promise<number> {
  const clients = options.clients ?? createAwsClients({ region: options.region, endpoint: options.endpoint });
  const abort = new AbortController();
  try {
    let task: BackupTask;
    try {
      task = parseOrThrow(BackupTask, JSON.parse(options.task), 'backup task');
    } catch (error) {
      const failure = error instanceof CairnError ? error : new CairnError(20, `the task is not JSON: ${messageOf(error)}`, { cause: error });
      await sendTaskFailure(clients.sfn, options.taskToken, failure);
      return failure.statusCode;
    }
    const jobs = options.jobsTable ? new DynamoJobStore({ client: clients.documents, tableName: options.jobsTable }) : undefined;
    // Liveness to the workflow through the task token; progress and `cairn jobs cancel` through the job record.
    const taskToken = new SfnTaskReporter({ client: clients.sfn, taskToken: options.taskToken, abort });
    const reporter: TaskReporter = jobs ? jobRecordReporter({
          jobs,
          jobId: task.jobId,
          clock: systemClock,
          abort,
          heartbeat: () => taskToken.heartbeat(),
          // Not fatal (the next report supersedes it), but never silent: SSM keeps stderr in the command output.
          onProgressFailure: (error) => process.stderr.write(`cairn-agent: ${messageOf(error)}\n`),
        }) : taskToken;
    const timer = setInterval(() => void reporter.heartbeat().catch(() => undefined), HEARTBEAT_MS);
    try {
      const result = await runBackup(task, { store: await (options.openStore ?? openStorageUnit)(task.storageUnit), reporter, now: () => new Date(), signal: abort.signal, ...(options.openStore ? { openStore: options.openStore } : {}) });
      await sendTaskSuccess(clients.sfn, options.taskToken, result);
      return result.statusCode;
    } catch (error) {
      // A workflow that stopped waiting needs no answer; any other failure (a cancel included) is reported with its status.
      if (!(abort.signal.reason instanceof TaskGoneError)) await sendTaskFailure(clients.sfn, options.taskToken, error);
      return statusOf(error);
    } finally {
      clearInterval(timer);
    }
  } finally {
    if (options.clients === undefined) clients.destroy();
  }
}
