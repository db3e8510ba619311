import { commandJobId, parseAgentCommand, type RunnableCommand } from '#core/model/agent-command.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { jobRecordReporter, taskTokenReporter } from '#core/jobs/job-reporter.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { addUsage, type UsageCounters } from '#core/model/job-usage.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { TaskGoneError, type TaskToken } from '#core/ports/task-token.ts';
import { runBackupOnUnit } from '../tape/tape-backup.ts';
import { runMount, runUnmount } from '../tape/mount.ts';
import { runTapeRestoreRead } from '../tape/tape-restore-read.ts';
import { dispatchCommand } from './dispatch.ts';

/** How often the agent tells Step Functions it is alive; well inside the Stream state's HeartbeatSeconds. */
const HEARTBEAT_MS = 60_000;

export interface RunTaskOptions {
  /** The agent command envelope as JSON (core/model/agent-command.ts), e.g. `{ "kind": "backup", "task": ... }`. */
  command: string;
}

/** The adapters the agent runs with, built by its entry point (main.ts). */
export interface RunTaskAdapters {
  /** The task token of this task: heartbeats and the final answer. */
  token: TaskToken;
  /** The job store for progress reports; without it only heartbeats are sent. */
  jobs?: JobStore;
  /** Opens the task's storage unit (and an incremental's base unit). */
  openStore: StorageUnitOpener;
  /** Stamps progress reports and the image's times. */
  clock: Clock;
  /** Told of a progress write that failed (the entry point writes it to stderr, which SSM keeps). */
  onProgressFailure?: (error: unknown) => void;
  /** The agent's billed requests so far (aws/usage-meter.ts), reported with its progress as the job's usage; absent, none is reported. */
  usage?: () => UsageCounters;
}

/**
 * The cloud runtime's agent entry (`cairn-agent run-task`, run by the SSM
 * document): runs the command (a backup), heartbeats, reports progress to
 * the job record, and ends the task token with the result or a
 * `Status<code>` failure. When the workflow stops waiting (timed out,
 * cancelled) or the job record says the job was ended, the work is aborted.
 * Returns the status code as the process exit status.
 */
export async function runTask(options: RunTaskOptions, adapters: RunTaskAdapters): Promise<number> {
  const { token, jobs, openStore, clock } = adapters;
  const abort = new AbortController();
  let command: RunnableCommand;
  try {
    command = parseAgentCommand(options.command);
  } catch (error) {
    // Unknown or not-yet-supported kinds, and bad payloads, end the task with status 20.
    const failure = error instanceof CairnError ? error : new CairnError(20, messageOf(error), { cause: error });
    await token.fail(failure);
    return failure.statusCode;
  }
  // Liveness to the workflow through the task token; progress and `cairn jobs cancel` through the job record.
  const liveness = taskTokenReporter(token, abort);
  const jobId = commandJobId(command);
  const reporter: TaskReporter = jobs
    ? withUsage(jobRecordReporter({ jobs, jobId, clock, abort, heartbeat: () => liveness.heartbeat(), onProgressFailure: adapters.onProgressFailure }), adapters.usage)
    : liveness;
  // The requests made after the last progress report (closing the image, removing a cancelled one), in one last report.
  const finalUsage = async (): Promise<void> => {
    if (jobs === undefined || adapters.usage === undefined) return;
    await jobs.recordProgress(jobId, { usage: carrying(adapters.usage()) }, clock.now()).catch((error: unknown) => adapters.onProgressFailure?.(error));
  };
  const timer = setInterval(() => void reporter.heartbeat().catch(() => undefined), HEARTBEAT_MS);
  try {
    const result = await dispatchCommand(command, {
      backup: async (task) => runBackupOnUnit(task, { store: await openStore(task.storageUnit), openStore, reporter, now: () => clock.now(), signal: abort.signal }),
      restore: async (task) => runTapeRestoreRead(task, { openStore, reporter, signal: abort.signal }),
      mount: (task) => runMount(task, undefined, () => clock.now()),
      unmount: (task) => runUnmount(task),
    });
    await finalUsage();
    await token.succeed(result);
    return 'statusCode' in result ? result.statusCode : 0;
  } catch (error) {
    await finalUsage();
    // A workflow that stopped waiting needs no answer; any other failure (a cancel included) is reported with its status.
    if (!(abort.signal.reason instanceof TaskGoneError)) await token.fail(error);
    return statusOf(error);
  } finally {
    clearInterval(timer);
  }
}

/** A reporter whose progress reports carry the agent's usage so far (its totals: each report replaces the last). */
function withUsage(reporter: TaskReporter, usage: (() => UsageCounters) | undefined): TaskReporter {
  if (usage === undefined) return reporter;
  return { progress: (update) => reporter.progress({ ...update, usage: carrying(usage()) }), heartbeat: () => reporter.heartbeat() };
}

/**
 * The usage with the write that carries it: one more DynamoDB write, whose
 * units DynamoDB returns only after it is made, so it counts as unmeasured
 * (priced at one unit, the least a write costs) until the next report.
 */
function carrying(usage: UsageCounters): UsageCounters {
  return addUsage(usage, { dynamoWriteRequests: 1, dynamoWritesUnmeasured: 1 });
}
