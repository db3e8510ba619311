import type { Job } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { DEFAULT_ORPHAN_GRACE_SECONDS } from '../catalog/catalog-check.ts';
import { openWindowAt } from './windows.ts';

export interface CatalogCheckDecision {
  /** The policy whose `catalogCheck` is due, with what the check does; absent when none is due. */
  due?: {
    policy: string;
    repair: boolean;
    graceSeconds: number;
    reason: string;
    /** The due instant: the window's opening, or the last scheduled check's start plus the frequency, whichever is later (the cloud's execution name). */
    dueAt: Date;
  };
  /** Why each policy with a `catalogCheck` is not due. */
  notDue: { policy: string; reason: string }[];
}

/**
 * Whether a scheduled catalog check is due: at most one per tick (the
 * catalog is one, whatever the number of policies asking for its check).
 * A policy's is due when it is active, the scheduler is not suspended,
 * one of its windows is open, no catalog check is running (a QUEUED or
 * ACTIVE catalog-check job, scheduled or not), and its own last scheduled
 * check (the newest catalog-check job naming the policy) started at least
 * `frequency` before now, or there is none. `jobs` are the recent jobs the
 * due decision reads. Pure: time comes in `now`.
 */
export function dueCatalogCheck(input: { policies: readonly Policy[]; jobs: readonly Job[]; suspended?: boolean; now: Date }): CatalogCheckDecision {
  const notDue: CatalogCheckDecision['notDue'] = [];
  const checks = input.jobs.filter((j): j is Extract<Job, { type: 'catalog-check' }> => j.type === 'catalog-check');
  const running = checks.find((j) => j.state !== 'DONE');
  let due: CatalogCheckDecision['due'];
  for (const policy of input.policies) {
    const schedule = policy.catalogCheck;
    if (schedule === undefined) continue;
    const no = (reason: string): void => void notDue.push({ policy: policy.name, reason });
    const last = checks.filter((j) => j.policy === policy.name).sort((a, b) => startOf(b) - startOf(a))[0];
    let window: ReturnType<typeof openWindowAt>;
    if (input.suspended) no('the scheduler is suspended');
    else if (!policy.active) no('the policy is inactive');
    else if ((window = openWindowAt(schedule.windows, policy.timeZone, input.now)) === undefined) no('no catalog check window is open');
    else if (running !== undefined) no(`catalog check job ${running.jobId} is ${running.state}`);
    else if (last !== undefined && startOf(last) + schedule.frequency * 1000 > input.now.getTime()) no(`its last catalog check, job ${last.jobId}, started at ${new Date(startOf(last)).toISOString()}; next after ${new Date(startOf(last) + schedule.frequency * 1000).toISOString()} (every ${formatDuration(schedule.frequency)})`);
    else if (due !== undefined) no(`policy ${due.policy} checks the catalog in this tick`);
    else {
      const reason = last === undefined ? 'the catalog has never been checked on this schedule' : `its last catalog check, job ${last.jobId}, is ${formatDuration(schedule.frequency)} or more old`;
      const dueAt = new Date(Math.max(window!.start.getTime(), last === undefined ? 0 : startOf(last) + schedule.frequency * 1000));
      due = { policy: policy.name, repair: schedule.repair ?? false, graceSeconds: schedule.grace ?? DEFAULT_ORPHAN_GRACE_SECONDS, reason, dueAt };
    }
  }
  return { ...(due ? { due } : {}), notDue };
}

function startOf(job: Job): number {
  return Date.parse(job.startedAt ?? job.queuedAt);
}
