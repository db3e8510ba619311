import type { JobRef } from '#core/jobs/job-service.ts';
import { addChildJob, endParentJob, noteOnParent, startParentJob, streamExecutionName, streamLimit, streamSelections } from '#core/jobs/data-streams.ts';
import { ALL_LOCAL_FILE_SYSTEMS } from '#core/model/selection.ts';
import type { BackupJob } from '#core/model/job.ts';
import type { Policy } from '#core/model/policy.ts';
import { loadSettings } from '#core/settings.ts';
import { updateJobOfKind } from '#core/jobs/job-of-kind.ts';
import { messageOf, statusOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { probeLocalFileSystems, type ProbeResult } from '#agent/probe/probe.ts';
import { runBackupJob, type BackupRun, type JobEngineDeps, type RunHooks } from './job-engine.ts';

export interface PolicyRunHooks extends RunHooks {
  /** The savefs probe of the in-process agent (default: this host's /proc/self/mountinfo; tests may give another table). */
  probe?: () => Promise<ProbeResult>;
  /** Told of each stream's job once it is queued (after the parent's onQueued). */
  onStreamQueued?: (job: JobRef, selection: string) => void;
}

/**
 * Runs what a backup request asks for in the standalone runtime: one backup
 * job (job-engine.ts), or, when its policy allows multiple data streams, a
 * parent job and one backup job per stream (core/jobs/data-streams.ts). A
 * stream's own request (it names its parent) always runs as one job.
 */
export async function runPolicyBackup(runtime: JobEngineDeps, request: Record<string, unknown>, hooks: PolicyRunHooks = {}): Promise<BackupRun> {
  const policy = typeof request.policy === 'string' && request.parentJobId === undefined ? await runtime.config.getPolicy(request.policy).catch(() => undefined) : undefined;
  if (!policy?.multipleDataStreams) return runBackupJob(runtime, request, hooks);
  return runStreams(runtime, policy, request, hooks);
}

/**
 * The parent's run: probe (for ALL), queue and run the streams at most
 * `streamLimit` at once, each through the real backup-job workflow, then end
 * the parent with the worst of its streams. Every stream that was started
 * is waited for before the parent ends, whatever happens.
 */
async function runStreams(runtime: JobEngineDeps, policy: Policy, request: Record<string, unknown>, hooks: PolicyRunHooks): Promise<BackupRun> {
  const now = (): Date => runtime.clock.now();
  let parent: BackupJob;
  try {
    parent = await startParentJob(runtime, { owner: runtime.owner, ...request }, now());
  } catch (error) {
    return { statusCode: statusOf(error), error: messageOf(error) };
  }
  hooks.onQueued?.({ jobId: parent.jobId, client: parent.client, policy: parent.policy, schedule: parent.schedule });

  let streams: string[];
  let limit: number;
  try {
    let mountPoints: string[] | undefined;
    if (parent.selections.includes(ALL_LOCAL_FILE_SYSTEMS)) {
      const probed = await (hooks.probe ?? (() => probeLocalFileSystems()))();
      mountPoints = probed.fileSystems.map((fs) => fs.mountPoint);
      const left = probed.skipped.length === 0 ? '' : `; left out ${probed.skipped.length} mounts (${probed.skipped.slice(0, 20).map((s) => `${s.mountPoint}: ${s.reason}`).join('; ')})`;
      await noteOnParent(runtime.jobs, parent.jobId, `${ALL_LOCAL_FILE_SYSTEMS} on client ${parent.client}: ${mountPoints.join(', ') || 'no local file system'}${left}`, now());
    }
    streams = streamSelections(parent.selections, mountPoints);
    // Recorded on the parent as the cloud runtime does (stream-advance.ts): each stream's image names them all.
    const known = streams;
    await updateJobOfKind(runtime.jobs, parent.jobId, 'backup', (j) => ({ ...j, streaming: { ...j.streaming, streams: known }, updatedAt: now().toISOString() }));
    const settings = await loadSettings(runtime.config);
    const chosen = streamLimit(policy, settings, streams.length);
    limit = chosen.limit;
    await noteOnParent(runtime.jobs, parent.jobId, `${streams.length} streams (${streams.join(', ')}), at most ${limit} at once: ${chosen.why}`, now());
  } catch (error) {
    const ended = await endParentJob(runtime.jobs, parent.jobId, now(), { statusCode: statusOf(error), error: messageOf(error) });
    return { jobId: parent.jobId, statusCode: ended.statusCode ?? statusOf(error), error: ended.error };
  }

  const recorded: Promise<void>[] = [];
  const notQueued: string[] = [];
  let firstNotQueued: number | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < streams.length) {
      const index = next++;
      const selection = streams[index]!;
      // A parent ended meanwhile (cancelled) starts no more streams.
      if ((await runtime.jobs.get(parent.jobId))?.state === 'DONE') return;
      const stream = {
        ...request,
        selections: [selection],
        parentJobId: parent.jobId,
        ...(parent.executionName ? { executionName: streamExecutionName(parent.executionName, index + 1) } : {}),
      };
      const run = await runBackupJob(runtime, stream, {
        onQueued: (ref) => {
          recorded.push(addChildJob(runtime.jobs, parent.jobId, ref.jobId, now()));
          hooks.onStreamQueued?.(ref, selection);
        },
      });
      if (run.jobId === undefined) {
        notQueued.push(`${selection}: ${run.error ?? `status ${run.statusCode}`}`);
        firstNotQueued ??= run.statusCode;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  await Promise.all(recorded);

  const failure = firstNotQueued === undefined ? undefined : { statusCode: firstNotQueued, error: `${notQueued.length} of ${streams.length} streams could not be queued: ${notQueued.join('; ')}` };
  const ended = await endParentJob(runtime.jobs, parent.jobId, now(), failure);
  return { jobId: parent.jobId, statusCode: ended.statusCode ?? StatusCode.INTERNAL_ERROR, ...(ended.error ? { error: ended.error } : {}) };
}
