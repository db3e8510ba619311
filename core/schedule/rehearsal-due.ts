import { usableImage, type Image } from '../model/image.ts';
import type { VerifyJob } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { executionNameFor, type DueInput, type NotDue } from './due.ts';
import { openWindowAt } from './windows.ts';
import type { DueVerify } from './verify-due.ts';

/** The schedule name rehearsal jobs and their decisions carry (a policy's rehearsal is not one of its backup schedules). */
export const REHEARSAL_SCHEDULE = 'rehearsal';

/** A rehearsal the scheduler should start now: the latest usable image of one client of one policy (fields as a due verify's). */
export interface DueRehearsal extends DueVerify {
  kind: 'rehearsal';
}

/**
 * Which restore rehearsals are due: for every active policy with a
 * `rehearsal` schedule and each of its clients, the client's latest ACTIVE,
 * usable (not marked broken) successful image of that policy is due when a
 * rehearsal window is open and either it has not been rehearsed yet, or
 * the last rehearsal of it was queued at least `frequency` ago. Not due,
 * with the reason `cairn schedule due` shows: suspended, inactive, outside
 * the window, no usable image yet, a rehearsal of the client still
 * running, or rehearsed recently. Pure: time comes in `input.now`.
 */
export function dueRehearsals(input: DueInput): { due: DueRehearsal[]; notDue: NotDue[] } {
  const due: DueRehearsal[] = [];
  const notDue: NotDue[] = [];
  const rehearsals = input.jobs.filter((j): j is VerifyJob => j.type === 'verify' && j.rehearsal !== undefined);
  for (const policy of input.policies) {
    const schedule = policy.rehearsal;
    if (schedule === undefined) continue;
    const no = (client: string, reason: string): void => void notDue.push({ policy: policy.name, client, schedule: REHEARSAL_SCHEDULE, reason });
    const gate = input.suspended ? 'the scheduler is suspended' : !policy.active ? 'the policy is inactive' : undefined;
    const window = gate === undefined ? openWindowAt(schedule.windows, policy.timeZone, input.now) : undefined;
    for (const { name: client } of policy.clients) {
      if (gate !== undefined) {
        no(client, gate);
        continue;
      }
      if (window === undefined) {
        no(client, 'no rehearsal window is open');
        continue;
      }
      const image = latestUsableImage(input.images, policy, client);
      if (image === undefined) {
        no(client, `client ${client} has no usable image of policy ${policy.name} to rehearse a restore of`);
        continue;
      }
      const mine = rehearsals.filter((j) => j.policy === policy.name && j.client === client);
      const running = mine.find((j) => j.state !== 'DONE');
      if (running) {
        no(client, `rehearsal job ${running.jobId} of ${running.image} is still ${running.state}`);
        continue;
      }
      const last = mine.filter((j) => j.image === image.backupId).sort((a, b) => b.queuedAt.localeCompare(a.queuedAt))[0];
      const nextAt = last === undefined ? window.start : new Date(Math.max(window.start.getTime(), Date.parse(last.queuedAt) + schedule.frequency * 1000));
      if (nextAt > input.now) {
        no(client, `image ${image.backupId} was rehearsed at ${last!.queuedAt} (status ${last!.statusCode ?? '?'}); next after ${nextAt.toISOString()} (every ${formatDuration(schedule.frequency)})`);
        continue;
      }
      const imageSeconds = Math.floor(Date.parse(image.createdAt) / 1000);
      const sample = schedule.sample === 'all' ? 'the whole tree' : `${schedule.sample} files`;
      due.push({
        kind: 'rehearsal',
        policy: policy.name,
        client,
        backupId: image.backupId,
        dueSince: nextAt.toISOString(),
        reason: last === undefined ? `image ${image.backupId} has not been rehearsed (${sample})` : `image ${image.backupId} was last rehearsed at ${last.queuedAt}, ${formatDuration(schedule.frequency)} or more ago (${sample})`,
        executionName: executionNameFor(policy.name, client, `${REHEARSAL_SCHEDULE}-${imageSeconds}`, nextAt),
      });
    }
  }
  return { due, notDue };
}

/** The request a due rehearsal starts its verify-job execution with (core/jobs/verify-job.ts VerifyRequest): sample and scratch come from the policy at Queue. */
export function scheduledRehearsalRequest(job: DueVerify): { backupId: string; policy: string; schedule: string; executionName: string; rehearsal: Record<string, never> } {
  return { backupId: job.backupId, policy: job.policy, schedule: REHEARSAL_SCHEDULE, executionName: job.executionName, rehearsal: {} };
}

/** The newest image of the client in the policy that a rehearsal can restore: ACTIVE, ended 0 or 1, not every copy broken. */
export function latestUsableImage(images: readonly Image[], policy: Pick<Policy, 'name'>, client: string): Image | undefined {
  let latest: Image | undefined;
  for (const image of images) {
    if (image.policy !== policy.name || image.client !== client || image.state !== 'ACTIVE' || image.statusCode > 1 || !usableImage(image)) continue;
    if (latest === undefined || image.createdAt > latest.createdAt) latest = image;
  }
  return latest;
}
