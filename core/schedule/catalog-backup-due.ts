import { CATALOG_CLIENT } from '../model/dr-file.ts';
import type { Image } from '../model/image.ts';
import type { Policy } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { openWindowAt } from './windows.ts';

/** The schedule name catalog-backup decisions carry (not one of the policy's backup schedules). */
export const CATALOG_BACKUP_SCHEDULE = 'catalog-backup';

export interface CatalogBackupDecision {
  /** The policy whose `catalogBackup` schedule is due, and the unit the catalog image goes to; absent when none is due. */
  due?: { policy: string; storageUnit: string; reason: string };
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
 */
export function dueCatalogBackup(input: { policies: readonly Policy[]; images: readonly Image[]; suspended?: boolean; now: Date }): CatalogBackupDecision {
  const notDue: CatalogBackupDecision['notDue'] = [];
  const last = input.images.filter((i) => i.client === CATALOG_CLIENT && i.state === 'ACTIVE').sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  let due: CatalogBackupDecision['due'];
  for (const policy of input.policies) {
    const schedule = policy.catalogBackup;
    if (schedule === undefined) continue;
    const no = (reason: string): void => void notDue.push({ policy: policy.name, reason });
    if (input.suspended) no('the scheduler is suspended');
    else if (!policy.active) no('the policy is inactive');
    else if (openWindowAt(schedule.windows, policy.timeZone, input.now) === undefined) no('no catalog backup window is open');
    else if (last !== undefined && Date.parse(last.createdAt) + schedule.frequency * 1000 > input.now.getTime()) no(`the catalog was backed up at ${last.createdAt} (${last.backupId}); next after ${new Date(Date.parse(last.createdAt) + schedule.frequency * 1000).toISOString()} (every ${formatDuration(schedule.frequency)})`);
    else if (due !== undefined) no(`policy ${due.policy} backs the catalog up in this tick`);
    else due = { policy: policy.name, storageUnit: schedule.storageUnit ?? policy.storageUnit, reason: last === undefined ? 'the catalog has never been backed up' : `the last catalog backup ${last.backupId} is ${formatDuration(schedule.frequency)} or more old` };
  }
  return { ...(due ? { due } : {}), notDue };
}
