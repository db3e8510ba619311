import type { Policy } from '../model/policy.ts';
import type { BackupJob } from '../model/job.ts';
import type { Settings } from '../settings.ts';
import type { JobStore } from '../ports/job-store.ts';
import { ALL_LOCAL_FILE_SYSTEMS } from '../model/selection.ts';
import { getJobOfKind, updateJobOfKind } from './job-of-kind.ts';
import { cancelJob, queueBackupJob, type JobDeps } from './job-service.ts';
import { CairnError } from '../errors.ts';
import { StatusCode, describeStatus } from '../status-codes.ts';

/**
 * Multiple data streams (NetBackup's policy attribute; NetWorker's save
 * sets of one client): a due policy with `multipleDataStreams` becomes one
 * parent job and one child job per stream. The parent records the request
 * (its policy, client, schedule, level and selections, `ALL` unexpanded),
 * writes no image and holds no resource; each child is an ordinary backup job
 * of one selection (its own workflow execution, backup id, image, snapshot
 * and retries) that names its parent (`parentJobId`). The runtime runs the
 * children, at most `streamLimit` at once, and ends the parent with
 * `parentOutcome` once every child has ended.
 */

/**
 * One stream per selection, and one per local file system for `ALL`
 * (`localFileSystems`: the mount points the client's probe found), in order,
 * each once. No stream at all is status 71, as for a job with no file.
 */
export function streamSelections(selections: readonly string[], localFileSystems: readonly string[] | undefined): string[] {
  const expanded = selections.flatMap((s) => {
    if (s !== ALL_LOCAL_FILE_SYSTEMS) return [s];
    if (localFileSystems === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `the selection ${ALL_LOCAL_FILE_SYSTEMS} needs the client's local file systems, and none were probed`);
    return localFileSystems;
  });
  const streams = [...new Set(expanded)];
  if (streams.length === 0) throw new CairnError(StatusCode.NONE_OF_THE_FILES_EXIST, `none of the files in the file list exist: ${selections.join(', ')} expanded to no stream (the client has no local file system ${ALL_LOCAL_FILE_SYSTEMS} stands for)`);
  return streams;
}

/** How many streams of one parent run at once: the lower of the policy's and the client's limit (unlimited when neither is set), and why. */
export function streamLimit(policy: Pick<Policy, 'maxJobsPerPolicy'>, settings: Pick<Settings, 'maxJobsPerClient'>, streams: number): { limit: number; why: string } {
  const limits = [
    ...(policy.maxJobsPerPolicy === undefined ? [] : [{ limit: policy.maxJobsPerPolicy, why: `maxJobsPerPolicy ${policy.maxJobsPerPolicy}` }]),
    ...(settings.maxJobsPerClient === undefined ? [] : [{ limit: settings.maxJobsPerClient, why: `maxJobsPerClient ${settings.maxJobsPerClient}` }]),
  ].sort((a, b) => a.limit - b.limit);
  const lowest = limits[0];
  if (!lowest || lowest.limit >= streams) return { limit: streams, why: lowest ? `${lowest.why} allows all ${streams}` : 'no job limit set' };
  return lowest;
}

/**
 * The parent's status from its children's, defined so that a parent is never
 * better than its worst stream: 0 when every child ended 0; 1 (partially
 * successful) when every child ended 0 or 1 and one ended 1; otherwise the
 * status of the first child (lowest job id) that failed, since that file
 * system has no image. A child that has not ended is an error of the caller.
 */
export function parentOutcome(children: readonly Pick<BackupJob, 'jobId' | 'state' | 'statusCode' | 'selections'>[]): { statusCode: number; error?: string } {
  const open = children.filter((c) => c.state !== 'DONE');
  if (open.length > 0) throw new CairnError(StatusCode.INTERNAL_ERROR, `the parent job cannot end while its streams ${open.map((c) => c.jobId).join(', ')} run`);
  if (children.length === 0) return { statusCode: StatusCode.NONE_OF_THE_FILES_EXIST, error: 'no stream was started' };
  const sorted = [...children].sort((a, b) => a.jobId - b.jobId);
  const failed = sorted.filter((c) => (c.statusCode ?? StatusCode.INTERNAL_ERROR) > 1);
  const describe = (c: (typeof sorted)[number]): string => `job ${c.jobId} (${c.selections.join(', ')}): status ${c.statusCode}`;
  if (failed.length > 0) return { statusCode: failed[0]!.statusCode ?? StatusCode.INTERNAL_ERROR, error: `${failed.length} of ${children.length} streams failed: ${failed.map(describe).join('; ')}` };
  const partial = sorted.filter((c) => c.statusCode === 1);
  if (partial.length > 0) return { statusCode: 1, error: `${partial.length} of ${children.length} streams partially successful: ${partial.map(describe).join('; ')}` };
  return { statusCode: 0 };
}

/**
 * The execution name of a parent's n-th stream (from 1): the parent's with
 * `.sN`, so a restarted parent finds its streams' executions again and a
 * stream never starts twice. Hashed to 80 characters as due execution names are.
 */
export function streamExecutionName(parentExecutionName: string, stream: number): string {
  const name = `${parentExecutionName}.s${stream}`;
  if (name.length <= 80) return name;
  // FNV-1a of the whole name, as executionNameFor (schedule/due.ts) shortens a long due name.
  let hash = 0x811c9dc5;
  for (const ch of name) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name.slice(0, 71)}-${hash.toString(16).padStart(8, '0')}`;
}

/**
 * Queues the parent job of a multiple-data-streams request and turns it
 * ACTIVE at once: it waits for nothing itself, and its streams are queued
 * next. Its waiting reason says how many streams run at once.
 */
export async function startParentJob(deps: JobDeps, request: Record<string, unknown>, now: Date): Promise<BackupJob> {
  const ref = await queueBackupJob(deps, request, now);
  return updateJobOfKind(deps.jobs, ref.jobId, 'backup', (job) => ({ ...job, state: 'ACTIVE', waitingReason: undefined, childJobIds: [], startedAt: now.toISOString(), updatedAt: now.toISOString() }), { expectedStates: ['QUEUED'] });
}

/** Records a detail line on the parent (what ALL expanded to, the limit), keeping the newest lines as every job does. */
export async function noteOnParent(jobs: JobStore, parentJobId: number, message: string, now: Date): Promise<void> {
  await jobs.update(parentJobId, (job) => ({ ...job, details: [...(job.details ?? []), { at: now.toISOString(), message: message.slice(0, 2048) }].slice(-100), updatedAt: now.toISOString() }));
}

/** Records a stream's job on its parent once it is queued; a compare-and-swap, so streams queued together lose none. */
export async function addChildJob(jobs: JobStore, parentJobId: number, childJobId: number, now: Date): Promise<void> {
  await updateJobOfKind(jobs, parentJobId, 'backup', (job) => (job.childJobIds?.includes(childJobId) ? job : { ...job, childJobIds: [...(job.childJobIds ?? []), childJobId], updatedAt: now.toISOString() }));
}

/**
 * Ends the parent with `parentOutcome` of its children (read from the store,
 * so it is the children's final word). Idempotent: a parent already ended (a
 * cancel) keeps its status. `failure` ends it without children, when its
 * streams could not even be worked out (the probe failed).
 */
export async function endParentJob(jobs: JobStore, parentJobId: number, now: Date, failure?: { statusCode: number; error: string }): Promise<BackupJob> {
  const parent = await getJobOfKind(jobs, parentJobId, 'backup');
  if (parent.state === 'DONE') return parent;
  const children = await Promise.all((parent.childJobIds ?? []).map((id) => getJobOfKind(jobs, id, 'backup')));
  const outcome: { statusCode: number; error?: string } = failure ?? parentOutcome(children);
  // The parent shows what its streams moved, in all.
  const files = children.reduce((sum, c) => sum + c.progress.files, 0);
  const bytes = children.reduce((sum, c) => sum + c.progress.bytes, 0);
  return updateJobOfKind(jobs, parentJobId, 'backup', (job) => (job.state === 'DONE' ? job : {
    ...job,
    progress: { ...job.progress, files, bytes },
    state: 'DONE',
    statusCode: outcome.statusCode,
    statusText: describeStatus(outcome.statusCode),
    waitingReason: undefined,
    error: outcome.error,
    endedAt: now.toISOString(),
    updatedAt: now.toISOString(),
  }));
}

/**
 * `cairn jobs cancel` of any job (`cancelJob`), and for a parent its streams
 * that have not ended too: the parent, once ended, starts no further stream
 * (both runtimes check it before each start), and each running stream stops
 * as any cancelled job does. A stream that cannot be cancelled (it ended
 * meanwhile) is left as it is.
 */
export async function cancelJobAndStreams(deps: Parameters<typeof cancelJob>[0], jobId: number, now: Date, by?: string): Promise<Awaited<ReturnType<typeof cancelJob>> & { streamsCancelled?: number[] }> {
  const result = await cancelJob(deps, jobId, now, by);
  const job = await deps.jobs.get(jobId);
  if (job?.type !== 'backup' || job.childJobIds === undefined) return result;
  const streamsCancelled: number[] = [];
  for (const id of job.childJobIds) {
    const stream = await deps.jobs.get(id);
    if (!stream || stream.state === 'DONE') continue;
    try {
      await cancelJob(deps, id, now, by);
      streamsCancelled.push(id);
    } catch {
      // It ended between the read and the cancel: nothing to stop.
    }
  }
  return { ...result, streamsCancelled };
}
