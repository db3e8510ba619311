import { CairnError } from '#core/errors.ts';
import { addDetails } from '#core/broker/tape-fault-release.ts';
import type { JobSnapshots } from '#core/model/snapshot.ts';
import type { DeleteSnapshotResult, DeleteSnapshotTask, SnapshotTask } from '#core/model/snapshot-task.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import { fallbackDetail } from '#core/snapshot/snapshot-plan.ts';
import { StatusCode } from '#core/status-codes.ts';
import { deleteJobSnapshots, takeJobSnapshots, type SnapshotAgent } from './job-snapshots.ts';

/**
 * The Snapshot and DeleteSnapshot steps as both runtimes' agents run them:
 * the work (job-snapshots.ts) and the lines it leaves in the job's detailed
 * status, when the agent can reach the job record (the standalone runtime
 * always; the cloud agent with its Jobs table).
 */

/** Takes the job's images; says in the job's details which images it took and which selections are read live, and why. */
export async function runSnapshotStep(task: SnapshotTask, agent: SnapshotAgent | undefined, jobs: JobStore | undefined): Promise<JobSnapshots> {
  if (agent === undefined) throw new CairnError(StatusCode.SNAPSHOT_ERROR, `job ${task.jobId}: this agent was started without a state directory, so it cannot record the snapshots it would take`);
  const taken = await takeJobSnapshots(task, agent);
  const lines = [...taken.images.map((i) => `snapshot ${i.name} (${i.method}) of ${i.sourceRoot} taken; read at ${i.readRoot}`), ...taken.fellBack.map(fallbackDetail)];
  if (jobs && lines.length > 0) await addAttemptDetails(jobs, task.jobId, agent.now(), lines);
  return taken;
}

/**
 * Removes the job's images. An image that could not be removed fails the
 * step with 156 naming it (the workflow goes on to Release either way) and
 * stays in the registry, where the agent's next clean-up tries again.
 */
export async function runDeleteSnapshotStep(task: DeleteSnapshotTask, agent: SnapshotAgent | undefined, jobs: JobStore | undefined): Promise<DeleteSnapshotResult> {
  if (agent === undefined) throw new CairnError(StatusCode.SNAPSHOT_ERROR, `job ${task.jobId}: this agent was started without a state directory, so it has no snapshot registry to delete from`);
  const result = await deleteJobSnapshots(task, agent);
  const lines = [...result.deleted.map((name) => `snapshot ${name} deleted`), ...result.failed.map((f) => `snapshot ${f.name} not deleted: ${f.reason}`)];
  if (jobs && lines.length > 0) await addAttemptDetails(jobs, task.jobId, agent.now(), lines);
  if (result.failed.length > 0) {
    throw new CairnError(StatusCode.SNAPSHOT_ERROR, `job ${task.jobId}: ${result.failed.length} snapshot(s) not deleted (the agent's next start tries again)`, { details: result.failed.map((f) => `${f.name}: ${f.reason}`) });
  }
  return result;
}

/** Adds the lines as the job's current attempt's (a retry takes an image of the same name: its lines are its own). */
async function addAttemptDetails(jobs: JobStore, jobId: number, at: Date, lines: readonly string[]): Promise<void> {
  const attempt = (await jobs.get(jobId))?.attempt ?? 1;
  await addDetails(jobs, jobId, at, lines.map((line) => `attempt ${attempt}: ${line}`));
}
