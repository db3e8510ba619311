import type { Job } from '../model/job.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { OperatorCommands } from '../ports/operator-commands.ts';
import { jobAgentInstance } from '../broker/tape-agent.ts';

/**
 * The cloud janitor's removal of a job's frozen images when its execution
 * was stopped or timed out (no state runs then, so no DeleteSnapshot step):
 * the `delete-snapshot` operator command, sent without waiting (as the idle
 * unload sends `unmount`) to the agent instance the job's commands went to.
 * Only a backup job whose policy takes snapshots has any. The agent's own
 * clean-up at its next start is the backstop when this is not sent or not
 * delivered. Resolves with where it went, or undefined when the job has no
 * images to delete.
 */
export async function sendSnapshotDelete(
  deps: { config: ConfigStore; emm?: MediaDatabase; agents: OperatorCommands },
  job: Job,
): Promise<{ instanceId: string; commandId: string } | undefined> {
  if (job.type !== 'backup') return undefined;
  const policy = await deps.config.getPolicy(job.policy);
  if (policy === undefined || policy.snapshot === 'none') return undefined;
  const unit = await deps.config.getStorageUnit(job.storageUnit);
  if (unit === undefined) return undefined;
  const instanceId = await jobAgentInstance(deps, job, policy, unit);
  const commandId = await deps.agents.send(instanceId, { kind: 'delete-snapshot', task: { jobId: job.jobId, images: [] } });
  return { instanceId, commandId };
}
