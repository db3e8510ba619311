import { z } from 'zod';
import type { BackupJob } from '../model/job.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { ExecutionStarter, StartOutcome } from '../ports/execution-starter.ts';
import type { OperatorCommands } from '../ports/operator-commands.ts';
import { ProbeResultSchema } from '../model/probe-task.ts';
import { ALL_LOCAL_FILE_SYSTEMS } from '../model/selection.ts';
import { requireAgentInstance } from '../clients/agent-instance.ts';
import { loadSettings } from '../settings.ts';
import { ConflictError, messageOf, statusOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { updateJobOfKind } from './job-of-kind.ts';
import { addChildJob, endParentJob, noteOnParent, startParentJob, streamExecutionName, streamLimit, streamSelections } from './data-streams.ts';

/** What the cloud runtime's streams need: the stores, the backup-job starter, and the agents' operator commands (the savefs probe). */
export interface StreamDeps {
  config: ConfigStore;
  jobs: JobStore;
  /** Starts the streams' backup-job executions (the Step Functions starter itself, never `multiStreamStarter`). */
  starter: ExecutionStarter;
  /** Absent: a parent whose selections hold `ALL` ends with status 50, saying that no agent can be asked. */
  agents?: OperatorCommands;
}

/**
 * The cloud runtime's multiple data streams, around the backup-job starter
 * (a decorator, as restic wraps a backend): a request whose policy allows
 * multiple data streams starts no execution of its own; it becomes a parent
 * job under the execution name (the job store refuses a second job of one
 * name, so a repeated tick answers 'already-started'), and its first step is
 * taken at once (`advanceParent`). Any other request goes to `inner`.
 */
export function multiStreamStarter(inner: ExecutionStarter, deps: StreamDeps & { now: () => Date }): ExecutionStarter {
  return {
    async start(name: string, input: unknown): Promise<StartOutcome> {
      const request = (input as { request?: Record<string, unknown> } | null)?.request;
      const policyName = request && request.parentJobId === undefined && typeof request.policy === 'string' ? request.policy : undefined;
      const policy = policyName ? await deps.config.getPolicy(policyName) : undefined;
      if (!request || !policy?.multipleDataStreams) return inner.start(name, input);
      // A repeated tick: answered without allocating a job id (a race past this check is refused by the store below).
      if (await deps.jobs.findByExecution(name)) return 'already-started';
      let parent: BackupJob;
      try {
        parent = await startParentJob(deps, { ...request, executionName: name }, deps.now());
      } catch (error) {
        if (error instanceof ConflictError) return 'already-started';
        throw error;
      }
      // A failure here is the next tick's to retry: the parent exists and `advanceParents` finds it.
      await advanceParent(deps, parent, deps.now()).catch(() => undefined);
      return 'started';
    },
  };
}

/** What one pass over the parents did. */
export interface StreamsReport {
  /** Parents that ended in this pass, with their status. */
  ended: { jobId: number; statusCode: number }[];
  /** Streams whose executions this pass started (by execution name). */
  started: string[];
  problems: string[];
}

/**
 * One scheduler tick's step for every multiple-data-streams parent that
 * runs (ACTIVE, with `childJobIds`): each is advanced by `advanceParent`; a
 * parent that cannot be advanced is named in `problems` and tried again at the
 * next tick.
 */
export async function advanceParents(deps: StreamDeps, now: Date): Promise<StreamsReport> {
  const report: StreamsReport = { ended: [], started: [], problems: [] };
  const active = await deps.jobs.list({ state: 'ACTIVE', limit: 5000 });
  for (const job of active) {
    if (job.type !== 'backup' || job.childJobIds === undefined) continue;
    try {
      const step = await advanceParent(deps, job, now);
      report.started.push(...step.started);
      if (step.ended) report.ended.push(step.ended);
    } catch (error) {
      report.problems.push(`parent job ${job.jobId}: ${messageOf(error)}`);
    }
  }
  return report;
}

/**
 * How long a stream's execution may run without its Queue state recording
 * its job. Queue is its first state and takes seconds; an execution that has
 * not queued by then was refused (NotQueued) or died, and the stream counts
 * as failed so that the parent can end.
 */
export const STREAM_QUEUE_GRACE_SECONDS = 900;

/** The agent's answer on stdout (edge-agent/transport/main.ts run-command): its result, or the status it failed with. */
const ProbeAnswer = z.union([z.object({ result: ProbeResultSchema }).strict(), z.object({ statusCode: z.number().int(), message: z.string() }).strict()]);

/**
 * One step of a parent, from what the stores say now (so a step repeated or
 * lost is harmless):
 * 1. Its streams: its selections; with `ALL`, the savefs probe is sent to the
 *    client's agent (`probe` command) and its answer read on later ticks.
 * 2. Each stream is the execution `<parent>.sN`: one whose job exists is
 *    recorded on the parent; one not yet started is started while fewer than
 *    the limit run (`streamLimit`; a stream started whose Queue state has
 *    not run yet counts as running, and starting it again is harmless).
 * 3. When every stream's job has ended, the parent ends with the worst.
 * A parent whose streams cannot be known (the probe failed, no local file
 * system) ends with that status and starts nothing.
 */
export async function advanceParent(deps: StreamDeps, parent: BackupJob, now: Date): Promise<{ started: string[]; ended?: { jobId: number; statusCode: number } }> {
  const fail = async (statusCode: number, error: string) => {
    const ended = await endParentJob(deps.jobs, parent.jobId, now, { statusCode, error });
    return { started: [], ended: { jobId: parent.jobId, statusCode: ended.statusCode ?? statusCode } };
  };
  if (parent.state === 'DONE') return { started: [] };
  if (!parent.executionName) return fail(StatusCode.INTERNAL_ERROR, 'a multiple-data-streams parent needs an execution name to name its streams');
  const policy = await deps.config.getPolicy(parent.policy);
  if (!policy) return fail(StatusCode.INVALID_POLICY, `policy ${parent.policy} no longer exists`);

  let streams = parent.streaming?.streams;
  if (!streams) {
    let mountPoints: string[] | undefined;
    if (parent.selections.includes(ALL_LOCAL_FILE_SYSTEMS)) {
      if (!deps.agents) return fail(StatusCode.CLIENT_PROCESS_ABORTED, `the selection ${ALL_LOCAL_FILE_SYSTEMS} needs the savefs probe of client ${parent.client}'s agent, and this scheduler has no agent command document (AGENT_COMMAND_DOCUMENT)`);
      const probe = parent.streaming?.probe;
      if (!probe) {
        const instanceId = await requireAgentInstance(deps.config, parent.client, policy);
        const commandId = await deps.agents.send(instanceId, { kind: 'probe', task: { jobId: parent.jobId } });
        await updateJobOfKind(deps.jobs, parent.jobId, 'backup', (j) => ({ ...j, streaming: { ...j.streaming, probe: { instanceId, commandId } }, updatedAt: now.toISOString() }));
        await noteOnParent(deps.jobs, parent.jobId, `savefs probe sent to ${instanceId} (command ${commandId})`, now);
        return { started: [] };
      }
      const where = await deps.agents.state(probe.commandId, probe.instanceId);
      if (where.state === 'running') return { started: [] };
      if (where.state === 'failed') return fail(StatusCode.CLIENT_PROCESS_ABORTED, `the savefs probe of client ${parent.client} failed: ${where.reason}`);
      const answer = parseProbeAnswer(where.stdout);
      if (!answer) return fail(StatusCode.CLIENT_PROCESS_ABORTED, `the agent on ${probe.instanceId} answered the savefs probe with something that is not its JSON answer`);
      if ('statusCode' in answer) return fail(answer.statusCode, `the savefs probe of client ${parent.client} failed: ${answer.message}`);
      mountPoints = answer.result.fileSystems.map((fs) => fs.mountPoint);
      await noteOnParent(deps.jobs, parent.jobId, `${ALL_LOCAL_FILE_SYSTEMS} on client ${parent.client}: ${mountPoints.join(', ') || 'no local file system'}; left out ${answer.result.skippedTotal ?? answer.result.skipped.length} mounts`, now);
    }
    try {
      streams = streamSelections(parent.selections, mountPoints);
    } catch (error) {
      return fail(statusOf(error), messageOf(error));
    }
    const known = streams;
    await updateJobOfKind(deps.jobs, parent.jobId, 'backup', (j) => ({ ...j, streaming: { ...j.streaming, streams: known }, updatedAt: now.toISOString() }));
  }

  const { limit, why } = streamLimit(policy, await loadSettings(deps.config), streams.length);
  const started: string[] = [];
  let running = 0;
  let ended = 0;
  const lost: string[] = [];
  const startedAt = parent.streaming?.startedAt ?? {};
  const graceOver = (name: string): boolean => startedAt[name] !== undefined && now.getTime() - Date.parse(startedAt[name]) > STREAM_QUEUE_GRACE_SECONDS * 1000;
  for (const [index, selection] of streams.entries()) {
    const name = streamExecutionName(parent.executionName, index + 1);
    const job = await deps.jobs.findByExecution(name);
    if (job) {
      if (!(parent.childJobIds ?? []).includes(job.jobId)) await addChildJob(deps.jobs, parent.jobId, job.jobId, now);
      if (job.state === 'DONE') ended++;
      else running++;
      continue;
    }
    if (running >= limit) continue;
    if (graceOver(name)) {
      // Started on an earlier tick and still no job: its execution never queued it.
      lost.push(`${name} (${selection})`);
      continue;
    }
    // Recorded before the start, so a stream is never started without its time: a start lost after it is started again next tick.
    const firstStart = startedAt[name] === undefined;
    if (firstStart) {
      const at = now.toISOString();
      await updateJobOfKind(deps.jobs, parent.jobId, 'backup', (j) => ({ ...j, streaming: { ...j.streaming, startedAt: { ...j.streaming?.startedAt, [name]: j.streaming?.startedAt?.[name] ?? at } } }));
      startedAt[name] = at;
    }
    const outcome = await deps.starter.start(name, { request: streamRequest(parent, selection, name) });
    // A stream started again before its Queue state ran is no news: Step Functions answers 'started' for a running
    // execution of the same input within seconds of its start, and `cairn --aws backup` steps every 2 s. (A start retried
    // after one that failed is not noted either: its job is recorded on the parent as any stream's is.)
    if (outcome === 'started' && firstStart) started.push(name);
    running++;
  }
  if (started.length > 0) await noteOnParent(deps.jobs, parent.jobId, `started streams ${started.join(', ')} (${running} of ${streams.length} running, at most ${limit} at once: ${why})`, now);
  if (ended + lost.length < streams.length) return { started };
  const failure = lost.length === 0 ? undefined : { statusCode: StatusCode.CLIENT_PROCESS_ABORTED, error: `${lost.length} of ${streams.length} streams never recorded a job within ${STREAM_QUEUE_GRACE_SECONDS} s of their start (the execution was refused or died before its Queue state): ${lost.join(', ')}` };
  const done = await endParentJob(deps.jobs, parent.jobId, now, failure);
  return { started, ended: { jobId: parent.jobId, statusCode: done.statusCode ?? StatusCode.INTERNAL_ERROR } };
}

/** A stream's backup request: the parent's, resolved, for one selection, naming its parent. */
function streamRequest(parent: BackupJob, selection: string, executionName: string): Record<string, unknown> {
  return {
    client: parent.client,
    policy: parent.policy,
    schedule: parent.schedule,
    level: parent.level,
    storageUnit: parent.storageUnit,
    retentionDays: parent.retentionDays,
    selections: [selection],
    parentJobId: parent.jobId,
    executionName,
    ...(parent.windowStart ? { windowStart: parent.windowStart } : {}),
    ...(parent.windowEnd ? { windowEnd: parent.windowEnd } : {}),
    ...(parent.dueAt ? { dueAt: parent.dueAt } : {}),
  };
}

function parseProbeAnswer(stdout: string): z.output<typeof ProbeAnswer> | undefined {
  try {
    const parsed = ProbeAnswer.safeParse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

