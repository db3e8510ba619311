import { jobIdOfSnapshotName } from '#core/model/snapshot.ts';
import { snapshotRefusal } from './run-tool.ts';

/**
 * Checks a name before a provider uses it in a path or a command line: it
 * must be a Cairn name (cairnSnapshotName) carrying `jobId`, so it holds no
 * `/`, no `@`, nothing a tool would read as an option, and a leftover is
 * always traced to its job.
 */
export function checkSnapshotName(name: string, jobId: number): void {
  if (jobIdOfSnapshotName(name) !== jobId) {
    throw snapshotRefusal(`refusing snapshot name ${JSON.stringify(name)}: not a Cairn snapshot name of job ${jobId} (cairn-job-${jobId}-<tag>)`);
  }
}
