import type { TaskReporter } from '#core/model/task.ts';
import { commandJobId, parseAgentCommand, type RunnableCommand } from '#core/model/agent-command.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { recordProgress } from '#core/jobs/job-service.ts';
import { createAwsClients } from '#aws/clients.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { TaskGoneError, sendTaskFailure, sendTaskHeartbeat, sendTaskSuccess } from '#aws/sfn-task-reporter.ts';
import { runBackup } from '../image/backup.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { dispatchCommand } from './dispatch.ts';

/** How often the agent tells Step Functions it is alive; well inside the Stream state's HeartbeatSeconds. */
const HEARTBEAT_MS = 60_000;

export interface RunTaskOptions {
  taskToken: string;
  /** The agent command envelope as JSON (core/model/agent-command.ts), e.g. `{ "kind": "backup", "task": ... }`. */
  command: string;
  /** The Jobs table for progress reports; without it only heartbeats are sent. */
  jobsTable?: string;
  region?: string;
  endpoint?: string;
}

/**
 * The cloud runtime's agent entry (`cairn-agent run-task`, run by the SSM
 * document): runs the command (a backup), heartbeats, reports progress to the job record,
 * and ends the task token with the result or a `Status<code>` failure. When
 * the workflow stops waiting (timed out, cancelled) the backup is aborted.
 * Returns the status code as the process exit status.
 */
export async function runTask(options: RunTaskOptions): Promise<number> {
  const clients = createAwsClients({ region: options.region, endpoint: options.endpoint });
  const abort = new AbortController();
  try {
    let command: RunnableCommand;
    try {
      command = parseAgentCommand(options.command);
    } catch (error) {
      // Unknown or not-yet-supported kinds, and bad payloads, end the task with status 20.
      const failure = error instanceof CairnError ? error : new CairnError(20, messageOf(error), { cause: error });
      await sendTaskFailure(clients.sfn, options.taskToken, failure);
      return failure.statusCode;
    }
    const jobId = commandJobId(command);
    const jobs = options.jobsTable ? new DynamoJobStore({ client: clients.documents, tableName: options.jobsTable }) : undefined;
    const heartbeat = async (): Promise<void> => {
      try {
        await sendTaskHeartbeat(clients.sfn, options.taskToken);
      } catch (error) {
        if (error instanceof TaskGoneError) abort.abort(error);
        else throw error;
      }
    };
    const reporter: TaskReporter = {
      progress: async (update) => {
        if (!jobs) return;
        // `cairn jobs cancel` ends the job record; the agent stops at its next report.
        const job = await jobs.get(jobId);
        if (job?.state === 'DONE') abort.abort(new Error(`job ${jobId} was ended (status ${job.statusCode})`));
        else await recordProgress(jobs, jobId, update, new Date());
      },
      heartbeat,
    };
    const timer = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_MS);
    try {
      const result = await dispatchCommand(command, {
        backup: async (task) => runBackup(task, { store: await openStorageUnit(task.storageUnit), reporter, now: () => new Date(), signal: abort.signal }),
      });
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
    clients.destroy();
  }
}
