import { requireAgentInstance } from '#core/clients/agent-instance.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import { multiStreamStarter } from '#core/jobs/stream-advance.ts';
import { asKind } from '#core/model/job.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import type { ExecutionStatuses } from '#core/ports/execution-status.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { OperatorCommands } from '#core/ports/operator-commands.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupRun } from '#local/job-engine.ts';
import { followBackup } from './follow-backup.ts';
import { followParent, parentRef } from './follow-streams.ts';

/** What `cairn --aws backup` runs against: the stack's stores, its backup-job state machine, and (for `ALL`) its agents. */
export interface AwsBackupDeps {
  config: ConfigStore;
  jobs: JobStore;
  /** Starts executions of the backup-job state machine (`SfnExecutionStarter`; in tests, the ASL run in process). */
  starter: ExecutionStarter;
  /** The state of those executions by name. */
  executions: ExecutionStatuses;
  /** The RunAgentCommand document's commands: the savefs probe of a multiple-data-streams policy over `ALL`. */
  agents?: OperatorCommands;
  clock: Clock;
  /** Waits between two looks at the job (2 s against a stack). */
  pause: () => Promise<void>;
  /** Looks after which a lost execution ends the following (follow-execution.ts, follow-streams.ts; default 15). */
  unknownLooks?: number;
}

/**
 * `cairn --aws backup`: a request whose policy allows multiple data streams
 * becomes a parent job and its streams exactly as a scheduler tick makes them
 * (the same `multiStreamStarter` around the same starter), followed to the
 * parent's end by `followParent`; any other request is one execution of the
 * backup-job state machine, followed by `followBackup`. A client no agent
 * serves is refused before anything starts (48), as the broker would refuse it later.
 */
export async function startAwsBackup(deps: AwsBackupDeps, request: Record<string, unknown>, hooks: { onQueued?: (job: JobRef) => void }): Promise<BackupRun> {
  const policy = typeof request.policy === 'string' ? await deps.config.getPolicy(request.policy) : undefined;
  await requireAgentInstance(deps.config, request.client as string, policy);
  const owner = `cli:${request.client as string}:${deps.clock.now().getTime()}`;
  const name = executionNameOfOwner(owner);
  // The job records its execution's name: `jobs show` finds the execution's history (its state transitions), and the
  // janitor and the sweep find the job when the execution ends without ending it. A parent's streams are named after it.
  const input = { request: { ...request, owner, executionName: name } };
  const now = (): Date => deps.clock.now();
  if (policy?.multipleDataStreams) {
    const streams = { config: deps.config, jobs: deps.jobs, starter: deps.starter, ...(deps.agents ? { agents: deps.agents } : {}) };
    // The parent is queued under `name` (it runs no execution of its own) and its first streams are started.
    await multiStreamStarter(deps.starter, { ...streams, now }).start(name, input);
    const parent = asKind(await deps.jobs.findByExecution(name), 'backup');
    if (!parent) throw new CairnError(StatusCode.INTERNAL_ERROR, `the parent job of ${name} was not recorded`);
    hooks.onQueued?.(parentRef(parent));
    return followParent({ parentJobId: parent.jobId, streams, executions: deps.executions, now, pause: deps.pause, unknownLooks: deps.unknownLooks });
  }
  // The name carries this call's client and instant, so the execution of that name is this call's whatever
  // the outcome says ('already-started' here can only be this host's clock running ahead of AWS's).
  await deps.starter.start(name, input);
  // Follow the job the execution queued (it carries our owner tag) and the execution itself, until one of them has ended.
  return followBackup({ owner, executionName: name, jobs: deps.jobs, execution: () => deps.executions.describe(name), pause: deps.pause, onQueued: hooks.onQueued, unknownLooks: deps.unknownLooks });
}

/** The execution a `cairn --aws backup` starts, named after its owner tag (also how `jobs show` finds it for jobs that did not record it). */
export function executionNameOfOwner(owner: string): string {
  return owner.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}
