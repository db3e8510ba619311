import { join } from 'node:path';
import type { SnapshotAgent } from '#agent/snapshot/job-snapshots.ts';
import { openSnapshotAgent } from '#agent/snapshot/snapshot-agent.ts';
import { cleanUpSnapshots, type SnapshotCleanupReport } from '#agent/snapshot/snapshot-cleanup.ts';
import type { JobStore } from '#core/ports/job-store.ts';

/** The in-process agent's state directory under CAIRN_HOME: its snapshot registry lives in `<home>/agent/snapshots/`. */
export function localAgentStateDir(home: string): string {
  return join(home, 'agent');
}

/** The standalone runtime's agent snapshot work: the real providers, the registry under CAIRN_HOME, this process the owner. */
export function localSnapshotAgent(home: string): SnapshotAgent {
  return openSnapshotAgent(localAgentStateDir(home));
}

/**
 * The standalone runtime's snapshot clean-up (on start and every tick, after
 * the janitor ended the jobs of dead processes): an image whose owner
 * process is gone and whose job the job store no longer has QUEUED or
 * ACTIVE is deleted.
 */
export function cleanUpLocalSnapshots(agent: SnapshotAgent, jobs: Pick<JobStore, 'get'>): Promise<SnapshotCleanupReport> {
  return cleanUpSnapshots(agent, {
    jobActive: async (jobId) => {
      const job = await jobs.get(jobId);
      return job !== undefined && job.state !== 'DONE';
    },
  });
}
