import { CATALOG_CLIENT } from '../model/dr-file.ts';
import type { Image } from '../model/image.ts';
import type { Job } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { openWindowAt } from './windows.ts';

/** The schedule name catalog-backup decisions carry (not one of the policy's backup schedules). */
export const CATALOG_BACKUP_SCHEDULE = 'catalog-backup';

export interface CatalogBackupDecision {
  /** The policy whose `catalogBackup` schedule is due, and the unit the catalog image goes to; absent when none is due. */
  due?: {
    policy: string;
    storageUnit: string;
    reason: string;
    /**
     * The due instant: the window's opening, the last catalog image plus
     * the frequency, or the end of this policy's last failed catalog backup
     * after those, whichever is latest. The cloud names the catalog job's
     * execution after it (core/schedule/catalog-job-due.ts): two ticks start
     * it once, and a failed one is tried again under a new name.
     */
    dueAt: Date;
  };
  /** Why each policy with a `catalogBackup` schedule is not due. */
  notDue: { policy: string; reason: string }[];
}

/**
 * Whether a catalog backup is due (nbpem for the catalog policy): at most
 * one per tick, whichever policy asks first (the catalog is one, whatever
 * the number of policies asking for its backup). A policy's schedule is due
 * when it is active, the scheduler is not suspended, one of its windows is
 * open, and the newest catalog image (client CATALOG_CLIENT, any unit) was
 * created at least `frequency` before now, or there is none. Pure: time
 * comes in `now`.
 *
 * `jobs` (the recent jobs, given by the cloud scheduler, whose catalog
 * backups run in executions of their own): a catalog-backup job of an
 * execution still QUEUED or ACTIVE holds every policy back, so a tick
 * during a backup does not start another.
 */
export function dueCatalogBackup(input: { policies: readonly Policy[]; images: readonly Image[]; jobs?: readonly Job[]; suspended?: boolean; now: Date }): CatalogBackupDecision {
  const notDue: CatalogBackupDecision['notDue'] = [];
  const last = input.images.filter((i) => i.client === CATALOG_CLIENT && i.state === 'ACTIVE').sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  const backups = (input.jobs ?? []).filter((j): j is Extract<Job, { type: 'catalog-backup' }> => j.type === 'catalog-backup');
  // Only an execution's job holds the schedule back: one the CLI left ACTIVE when it was killed would hold it for ever.
  const running = backups.find((j) => j.state !== 'DONE' && j.executionName !== undefined);
  let due: CatalogBackupDecision['due'];
  for (const policy of input.policies) {
    const schedule = policy.catalogBackup;
    if (schedule === undefined) continue;
    const no = (reason: string): void => void notDue.push({ policy: policy.name, reason });
    if (input.suspended) no('the scheduler is suspended');
    else if (!policy.active) no('the policy is inactive');
    else if (openWindowAt(schedule.windows, policy.timeZone, input.now) === undefined) no('no catalog backup window is open');
    else if (running !== undefined) no(`catalog backup job ${running.jobId} is ${running.state}`);
    else if (last !== undefined && Date.parse(last.createdAt) + schedule.frequency * 1000 > input.now.getTime()) no(`the catalog was backed up at ${last.createdAt} (${last.backupId}); next after ${new Date(Date.parse(last.createdAt) + schedule.frequency * 1000).toISOString()} (every ${formatDuration(schedule.frequency)})`);
    else if (due !== undefined) no(`policy ${due.policy} backs the catalog up in this tick`);
    else {
      const window = openWindowAt(schedule.windows, policy.timeZone, input.now)!;
      const since = Math.max(window.start.getTime(), last === undefined ? 0 : Date.parse(last.createdAt) + schedule.frequency * 1000);
      // A failed attempt of this policy's since then: the next is due when it ended (as the standalone tick tries again at once).
      const failedAt = backups.filter((j) => j.policy === policy.name && j.state === 'DONE' && j.statusCode !== 0 && j.endedAt !== undefined && Date.parse(j.endedAt) >= since).map((j) => Date.parse(j.endedAt!));
      const dueAt = new Date(Math.max(since, ...failedAt));
      due = { policy: policy.name, storageUnit: schedule.storageUnit ?? policy.storageUnit, dueAt, reason: last === undefined ? 'the catalog has never been backed up' : `the last catalog backup ${last.backupId} is ${formatDuration(schedule.frequency)} or more old` };
    }
  }
  return { ...(due ? { due } : {}), notDue };
}
