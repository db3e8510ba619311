/// <reference lib="dom" />
import type { PolicyRow } from '../policies-view.ts';
import { answer } from './api.ts';

/** The Policies and Schedule pages' calls (cli/monitor/policy-routes.ts). */

export interface DueRow {
  policy: string;
  client: string;
  schedule: string;
  level?: string;
  dueSince: string;
  windowStart?: string;
  windowEnd?: string;
  backupId?: string;
  reason: string;
}

export interface NotDueRow {
  policy: string;
  client: string;
  schedule: string;
  reason: string;
}

/** `GET /api/schedule/due`: what `cairn schedule due --all --json` prints, and whether the scheduler is suspended. */
export interface DuePreview {
  at: string;
  suspended: boolean;
  due: DueRow[];
  notDue: NotDueRow[];
  verifies: DueRow[];
  rehearsals: DueRow[];
  catalogCheck?: { due?: { policy: string; repair: boolean; reason: string }; notDue: { policy: string; reason: string }[] };
}

export async function fetchPolicies(): Promise<{ schedulerSuspended: boolean; policies: PolicyRow[] }> {
  return answer(await fetch('/api/policies'));
}

export async function fetchPolicy(name: string): Promise<PolicyRow & { yaml: string }> {
  return answer(await fetch(`/api/policies/${encodeURIComponent(name)}`));
}

export async function fetchDue(at: Date): Promise<DuePreview> {
  return answer(await fetch(`/api/schedule/due?${new URLSearchParams({ at: at.toISOString() }).toString()}`));
}

/** `cairn schedule suspend` / `resume`: the one switch of the whole scheduler. */
export async function setSchedulerSuspended(suspended: boolean): Promise<boolean> {
  return (await answer<{ schedulerSuspended: boolean }>(await fetch(`/api/schedule/${suspended ? 'suspend' : 'resume'}`, { method: 'POST' }))).schedulerSuspended;
}

export type { PolicyRow };
