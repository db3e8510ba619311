import type { CatalogCheckDecision } from '#core/schedule/catalog-check-due.ts';
import { dueJobs, type DueJob, type NotDue } from '#core/schedule/due.ts';
import { dueRehearsals, type DueRehearsal } from '#core/schedule/rehearsal-due.ts';
import { loadDueInput, type ScheduleReaders } from '#core/schedule/tick.ts';
import { dueVerifies, type DueVerify } from '#core/schedule/verify-due.ts';
import { dueCatalogCheck } from '#core/schedule/catalog-check-due.ts';

/** What is due at one instant and why, and why everything else is not: `cairn schedule due` and the monitor's Schedule page. */
export interface DuePreview {
  at: string;
  /** `cairn schedule suspend` is in force: nothing is due, every reason says so. */
  suspended: boolean;
  due: DueJob[];
  /** Backup schedules, verifies and rehearsals that are not due, each with its reason. */
  notDue: NotDue[];
  verifies: DueVerify[];
  rehearsals: DueRehearsal[];
  /** Present when some policy has a `catalogCheck`. */
  catalogCheck?: CatalogCheckDecision;
}

/**
 * The scheduler's decision at `now`, from the same data read the same way as
 * the scheduler tick (loadDueInput), narrowed to one policy and/or client.
 * Backups, verifies, rehearsals and the catalog check are each decided by
 * their own core rule; nothing is started.
 */
export async function duePreview(readers: ScheduleReaders, now: Date, only: { policy?: string; client?: string } = {}): Promise<DuePreview> {
  const all = await loadDueInput(readers, now);
  const input = { ...all, policies: all.policies.filter((p) => !only.policy || p.name === only.policy) };
  const keep = <T extends { client: string }>(rows: T[]): T[] => rows.filter((r) => !only.client || r.client === only.client);
  const backups = dueJobs(input);
  // Scheduled verifies (a policy's `verify`) and restore rehearsals (`rehearsal`): the same input, their own decisions.
  const verifies = dueVerifies(input);
  const rehearsals = dueRehearsals(input);
  // A scheduled catalog check (a policy's `catalogCheck`): its own decision, from the same jobs.
  const checks = dueCatalogCheck(input);
  return {
    at: now.toISOString(),
    suspended: all.suspended ?? false,
    due: keep(backups.due),
    notDue: [...keep(backups.notDue), ...keep(verifies.notDue), ...keep(rehearsals.notDue)],
    verifies: keep(verifies.due),
    rehearsals: keep(rehearsals.due),
    ...(checks.due || checks.notDue.length > 0 ? { catalogCheck: { ...(checks.due ? { due: checks.due } : {}), notDue: checks.notDue } } : {}),
  };
}
