import { commandJobId, parseAgentCommand, type RunnableCommand } from '#core/model/agent-command.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { jobRecordReporter, taskTokenReporter } from '#core/jobs/job-reporter.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { addUsage, type UsageCounters } from '#core/model/job-usage.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { TaskGoneError, type TaskToken } from '#core/ports/task-token.ts';
import { runBackupOnUnit } from '../tape/tape-backup.ts';
import { runMount, runUnmount } from '../tape/mount.ts';
import { runTapeRestoreRead } from '../tape/tape-restore-read.ts';
import { runVerifyTask } from '../verify/verify-task.ts';
import { runDuplicateTask } from '../duplicate/duplicate-task.ts';
import { dispatchCommand } from './dispatch.ts';
import type { SpanRendezvous } from '../tape/spanning/next-volumes.ts';
import { SpanningBackup } from '../tape/spanning/spanning-backup.ts';
import { adoptJobSnapshots, type SnapshotAgent } from '../snapshot/job-snapshots.ts';
import { cleanUpSnapshots } from '../snapshot/snapshot-cleanup.ts';
import { runDeleteSnapshotStep, runSnapshotStep } from '../snapshot/snapshot-steps.ts';

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
  /**
   * Spanning on this host: where a tape backup that filled its volume and
   * the Continue step's process meet (a FileRendezvous in the agent's state
   * directory), this task's token as the workflow sent it, and how a token
   * becomes a TaskToken. Without it a tape backup fails with 96 at end of
   * media and `continue-backup` is refused.
   */
  spanning?: { rendezvous: SpanRendezvous; taskToken: string; tokenFor(token: string): TaskToken; waiter(): string };
  /**
   * Frozen images on this host (the registry in the agent's state
   * directory). Each command first takes its job's images over and removes
   * the leftovers of others (`cleanUpSnapshots`: no job store here, so a dead
   * owner past its hand-over time decides). Without it `snapshot` and
   * `delete-snapshot` fail with 156.
   */
  snapshots?: SnapshotAgent;
  /** Where a restore rehearsal whose policy names no scratch directory restores: the state directory's `rehearsals/`. */
  rehearsalScratch?: string;
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
  // The task token the work reports on: this task's, and after a volume-full outcome the Continue step's (spanning).
  let current: TaskToken | undefined = token;
  const active: TaskToken = {
    heartbeat: () => current?.heartbeat() ?? Promise.resolve(),
    succeed: (output) => (current ?? token).succeed(output),
    fail: (error) => (current ?? token).fail(error),
  };
  // Liveness to the workflow through the task token; progress and `cairn jobs cancel` through the job record.
  const liveness = taskTokenReporter(active, abort);
  const jobId = commandJobId(command);
  const reporter: TaskReporter = jobs
    ? withUsage(jobRecordReporter({ jobs, jobId, clock, abort, heartbeat: () => liveness.heartbeat(), onProgressFailure: adapters.onProgressFailure }), adapters.usage)
    : liveness;
  // The requests made after the last progress report (closing the image, removing a cancelled one), in one last report.
  const finalUsage = async (): Promise<void> => {
    if (jobs === undefined || adapters.usage === undefined) return;
    await jobs.recordProgress(jobId, { usage: carrying(adapters.usage()) }, clock.now()).catch((error: unknown) => adapters.onProgressFailure?.(error));
  };
  const spanning = adapters.spanning;
  const snapshots = adapters.snapshots;
  if (snapshots) await startSnapshotWork(snapshots, jobId, adapters.onProgressFailure);
  const timer = setInterval(() => void reporter.heartbeat().catch(() => undefined), HEARTBEAT_MS);
  try {
    const result = await dispatchCommand(command, {
      backup: async (task) => {
        const deps = { store: await openStore(task.storageUnit), openStore, reporter, now: () => clock.now(), signal: abort.signal };
        if (task.tape === undefined || spanning === undefined) return runBackupOnUnit(task, deps);
        // A tape backup reports each full volume on the current token and goes on on the Continue step's.
        const backup = new SpanningBackup({
          jobId,
          waiter: spanning.waiter(),
          rendezvous: spanning.rendezvous,
          spanWaitSeconds: task.tape.spanWaitSeconds,
          now: () => clock.now(),
          onContinuation: (continuation) => (current = continuation.taskToken === undefined ? undefined : spanning.tokenFor(continuation.taskToken)),
        }).start((volumes) => runBackupOnUnit(task, deps, undefined, volumes));
        for (;;) {
          const outcome = await backup.next();
          if (!('outcome' in outcome)) return outcome;
          // Nothing reports on this token again: the next outcome goes to the Continue step's token.
          const step = current;
          current = undefined;
          await step?.succeed(outcome);
        }
      },
      restore: async (task) => runTapeRestoreRead(task, { openStore, reporter, signal: abort.signal }),
      mount: (task) => runMount(task, undefined, () => clock.now()),
      unmount: async (task) => {
        // Every path out of a granted tape job unmounts: a backup of the job still waiting for a volume stops.
        await spanning?.rendezvous.withdraw(task.jobId, 'the job is unmounting its drive');
        return runUnmount(task);
      },
      continueBackup: async (task) => {
        if (spanning === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'this agent was started without a state directory for spanning: it cannot hand a waiting backup its next volume');
        await spanning.rendezvous.offer(task.jobId, task.waiter, { tape: task.tape, taskToken: spanning.taskToken });
        return undefined;
      },
      snapshot: (task) => runSnapshotStep(task, snapshots, jobs),
      deleteSnapshot: (task) => runDeleteSnapshotStep(task, snapshots, jobs),
      verify: (task) => runVerifyTask(task, { openStore, reporter, signal: abort.signal, ...(adapters.rehearsalScratch === undefined ? {} : { defaultScratch: adapters.rehearsalScratch }) }),
      duplicate: (task) => runDuplicateTask(task, { openStore, reporter, signal: abort.signal }),
    });
    await finalUsage();
    // continue-backup hands its token to the waiting backup, which ends it.
    if (command.kind === 'continue-backup') return 0;
    if (current === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, 'no task token to report the result on');
    await current.succeed(result);
    return result !== undefined && 'statusCode' in result ? result.statusCode : 0;
  } catch (error) {
    await finalUsage();
    // A workflow that stopped waiting needs no answer; any other failure (a cancel included) is reported with its status,
    // on the token a workflow step waits on (none while a backup waited for a volume and gave up: then stderr has it).
    if (!(abort.signal.reason instanceof TaskGoneError)) {
      if (current === undefined) adapters.onProgressFailure?.(new CairnError(statusOf(error), `no workflow step waits for this backup any more: ${messageOf(error)}`));
      else await current.fail(error);
    }
    return statusOf(error);
  } finally {
    clearInterval(timer);
    // The job's images stay held for its next command (the hand-over time counts from now).
    if (snapshots) await adoptJobSnapshots(jobId, snapshots).catch((error: unknown) => adapters.onProgressFailure?.(error));
  }
}

/**
 * Before the command's work: this process takes its job's images over, and
 * the images of other jobs whose owner is gone past their hand-over time
 * are removed. Never fails the command: what goes wrong is written where
 * SSM keeps it, and the next command tries again.
 */
async function startSnapshotWork(snapshots: SnapshotAgent, jobId: number, onProblem: ((error: unknown) => void) | undefined): Promise<void> {
  try {
    await adoptJobSnapshots(jobId, snapshots);
    const report = await cleanUpSnapshots(snapshots, { spare: (record) => record.jobId === jobId });
    for (const removed of report.removed) onProblem?.(new Error(`deleted snapshot ${removed.name} of job ${removed.jobId}: ${removed.why}`));
    for (const problem of report.problems) onProblem?.(new Error(`snapshot clean-up: ${problem}`));
  } catch (error) {
    onProblem?.(error);
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
