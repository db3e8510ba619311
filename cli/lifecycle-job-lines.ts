import type { Job, JobOfKind, LifecycleJobKind } from '#core/model/job.ts';
import { formatBytes } from './output.ts';

type LifecycleJob = JobOfKind<LifecycleJobKind>;

/** True for the kinds that run in one process with no workflow (duplicate, image-cleanup, catalog-backup, catalog-check). */
export function isLifecycleJob(job: Job): job is LifecycleJob {
  return job.type === 'duplicate' || job.type === 'image-cleanup' || job.type === 'catalog-backup' || job.type === 'catalog-check';
}

/** What a lifecycle job's cell of the jobs table says: what it acted on and what it did. */
export function lifecycleCell(job: LifecycleJob): string {
  switch (job.type) {
    case 'duplicate':
      return `${job.image} → ${job.storageUnit}${job.copyNumber === undefined ? '' : ` (copy ${job.copyNumber}${job.alreadyPresent ? ', already there' : ''})`}`;
    case 'image-cleanup':
      return `${job.expiredCount} expired, ${job.recycledVolumes.length} recycled${job.problemCount > 0 ? `, ${job.problemCount} problems` : ''}`;
    case 'catalog-backup':
      return `${job.image ?? '-'} on ${job.storageUnit}`;
    case 'catalog-check': {
      const found = Object.values(job.findings).reduce((sum, n) => sum + n, 0);
      return `${found} finding(s)${job.repair ? `, ${job.repairs} repaired, ${job.unrepaired} left` : ''}`;
    }
  }
}

/** The lines of `cairn jobs <id>` that only a lifecycle job has. */
export function lifecycleLines(job: LifecycleJob): [string, unknown][] {
  const first = (list: readonly string[], count: number) => (count > 0 ? `${count}${list.length > 0 ? `, first: ${list.slice(0, 3).join('; ')}` : ''}` : undefined);
  switch (job.type) {
    case 'duplicate':
      return [
        ['client', job.client],
        ['image', job.image],
        ['from', job.fromCopy === undefined ? undefined : `copy ${job.fromCopy} on ${job.fromStorageUnit ?? '?'}`],
        ['to', `${job.storageUnit}${job.copyNumber === undefined ? '' : ` as copy ${job.copyNumber}`}${job.alreadyPresent ? ' (already there: nothing catalogued)' : ''}`],
        ['policy', job.policy],
        // A copy to or from tape: the drives it was given.
        ['drives', job.drives?.join(', ')],
      ];
    case 'image-cleanup':
      return [
        ['run by', job.trigger === 'tick' ? 'the scheduler tick' : 'cairn images expire'],
        ['expired', first(job.expired, job.expiredCount) ?? '0'],
        ['kept', job.keptCount],
        ['deferred', job.deferred > 0 ? job.deferred : undefined],
        ['recycled volumes', job.recycledVolumes.join(', ')],
        ['problems', first(job.problems, job.problemCount)],
      ];
    case 'catalog-backup':
      return [
        ['storage unit', job.storageUnit],
        ['catalog image', job.image],
        ['DR file', job.drFile],
        ['policy', job.policy],
        ['catalog bytes', job.progress.bytes > 0 ? formatBytes(job.progress.bytes) : undefined],
      ];
    case 'catalog-check':
      return [
        ['repair', job.repair ? 'yes' : 'no'],
        ['policy', job.policy],
        ['findings', Object.entries(job.findings).map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none'],
        ['repairs', job.repair ? `${job.repairs} made, ${job.unrepaired} left` : undefined],
        ['first findings', job.problems.join('\n                          ')],
      ];
  }
}
