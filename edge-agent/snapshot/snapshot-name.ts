import { IsoTime } from '#core/model/names.ts';
import { jobIdOfSnapshotName } from '#core/model/snapshot.ts';
import { snapshotRefusal } from './run-tool.ts';

/**
 * Checks a create (or imageOf) request before a provider uses it in a path
 * or a command line, so a bad one fails with 156 before anything is made:
 * the name must be a Cairn name (cairnSnapshotName) carrying the job id (so
 * it holds no `/`, no `@`, nothing a tool would read as an option, and a
 * leftover is always traced to its job), the root an absolute path, the
 * time an ISO time (a FrozenImage's fields).
 */
export function checkSnapshotRequest(request: { sourceRoot: string; name: string; jobId: number; createdAt: string }): void {
  const { name, jobId, sourceRoot, createdAt } = request;
  if (jobIdOfSnapshotName(name) !== jobId) {
    throw snapshotRefusal(`refusing snapshot name ${JSON.stringify(name)}: not a Cairn snapshot name of job ${jobId} (cairn-job-${jobId}-<tag>)`);
  }
  if (!sourceRoot.startsWith('/')) throw snapshotRefusal(`cannot snapshot ${JSON.stringify(sourceRoot)}: not an absolute path`);
  if (!IsoTime.safeParse(createdAt).success) throw snapshotRefusal(`refusing snapshot ${name}: createdAt ${JSON.stringify(createdAt)} is not an ISO time`);
}
