import { messageOf } from '#core/errors.ts';
import { leftoverVerdict } from '#core/snapshot/snapshot-plan.ts';
import { recordedImage, type SnapshotAgent } from './job-snapshots.ts';
import type { SnapshotRecord } from './snapshot-registry.ts';

/** What the agent's clean-up at its start did. */
export interface SnapshotCleanupReport {
  removed: Array<{ name: string; jobId: number; why: string }>;
  kept: Array<{ name: string; jobId: number; why: string }>;
  problems: string[];
}

/**
 * The agent's clean-up at its start (each agent command run, the standalone
 * runtime's start and ticks): removes the Cairn images whose owner process
 * is gone and whose job is no longer active (`leftoverVerdict`).
 * `jobActive` answers from a job store (the standalone runtime); without it
 * (the cloud agent has no catalog access) the dead owner and the end of the
 * hand-over time decide. Never throws: what it cannot do is in `problems`,
 * and the next start tries again.
 */
export async function cleanUpSnapshots(agent: SnapshotAgent, options: { jobActive?: (jobId: number) => Promise<boolean>; spare?: (record: SnapshotRecord) => boolean } = {}): Promise<SnapshotCleanupReport> {
  const report: SnapshotCleanupReport = { removed: [], kept: [], problems: [] };
  let records: SnapshotRecord[];
  try {
    records = await agent.registry.list((file, reason) => report.problems.push(`${file}: not a snapshot record: ${reason}`));
  } catch (error) {
    report.problems.push(`the snapshot registry ${agent.registry.directory} cannot be read: ${messageOf(error)}`);
    return report;
  }
  let providers: ReturnType<SnapshotAgent['openProviders']> | undefined;
  for (const record of records) {
    if (options.spare?.(record)) continue;
    try {
      const ownerAlive = agent.isAlive(record.owner);
      const jobActive = ownerAlive || options.jobActive === undefined ? undefined : await options.jobActive(record.jobId);
      const verdict = leftoverVerdict(record, { ownerAlive, jobActive, now: agent.now() });
      if (!verdict.remove) {
        report.kept.push({ name: record.name, jobId: record.jobId, why: verdict.why });
        continue;
      }
      providers ??= agent.openProviders({});
      // An agent that died inside create left a record without its image: the provider tells the image create makes.
      const image = await recordedImage(record, providers);
      await providers[image.method].delete(image);
      await agent.registry.remove(record.name);
      report.removed.push({ name: record.name, jobId: record.jobId, why: verdict.why });
    } catch (error) {
      report.problems.push(`${record.name} (job ${record.jobId}): ${messageOf(error)}`);
    }
  }
  return report;
}

/** One line of `cairn snapshot list`. */
export interface SnapshotListing {
  name: string;
  jobId: number;
  method: string;
  sourceRoot: string;
  readRoot?: string;
  createdAt: string;
  owner: { pid: number; alive: boolean };
  /** Whether the image is still there (the provider's `exists`); absent when it was never recorded made. */
  exists?: boolean;
}

/** Every image the registry records, with whether its owner runs and whether the image is still there. */
export async function listSnapshots(agent: SnapshotAgent): Promise<SnapshotListing[]> {
  const records = await agent.registry.list();
  const providers = records.length > 0 ? agent.openProviders({}) : undefined;
  const listings: SnapshotListing[] = [];
  for (const record of records) {
    let exists: boolean | undefined;
    if (record.image && providers) exists = await providers[record.image.method].exists(record.image).catch(() => undefined);
    listings.push({
      name: record.name,
      jobId: record.jobId,
      method: record.method,
      sourceRoot: record.sourceRoot,
      ...(record.image ? { readRoot: record.image.readRoot } : {}),
      createdAt: record.image?.createdAt ?? record.recordedAt,
      owner: { pid: record.owner.pid, alive: agent.isAlive(record.owner) },
      ...(exists === undefined ? {} : { exists }),
    });
  }
  return listings;
}
