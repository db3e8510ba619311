import type { Job } from '#core/model/job.ts';

/** A row of the jobs table: the job, and whether it is shown as a stream under its parent. */
export interface JobRow {
  job: Job;
  stream: boolean;
}

/**
 * The jobs list with each multiple-data-streams parent followed by its
 * streams (lowest job id first), as NetBackup's Activity Monitor groups child
 * jobs under their parent. A stream whose parent is not in the list (older
 * than the limit) stays where it is.
 */
export function groupStreams(list: readonly Job[]): JobRow[] {
  const listed = new Set(list.map((j) => j.jobId));
  const parentOf = (job: Job): number | undefined => (job.type === 'backup' && job.parentJobId !== undefined && listed.has(job.parentJobId) ? job.parentJobId : undefined);
  const children = new Map<number, Job[]>();
  for (const job of list) {
    const parent = parentOf(job);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), job]);
  }
  const rows: JobRow[] = [];
  for (const job of list) {
    if (parentOf(job) !== undefined) continue;
    rows.push({ job, stream: false });
    for (const child of (children.get(job.jobId) ?? []).sort((a, b) => a.jobId - b.jobId)) rows.push({ job: child, stream: true });
  }
  return rows;
}

/** What a parent's row says where a job shows its backup id: its streams. */
export function streamsCell(job: Job): string | undefined {
  if (job.type !== 'backup' || job.childJobIds === undefined) return undefined;
  return `parent of ${job.childJobIds.length} streams${job.childJobIds.length > 0 ? `: ${job.childJobIds.join(',')}` : ''}`;
}
