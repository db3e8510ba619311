import { usableImage, type Image } from '../model/image.ts';
import type { Policy } from '../model/policy.ts';
import type { DueInput, NotDue } from './due.ts';
import { dueImageChecks, type DueVerify } from './image-check-due.ts';

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
  const { due, notDue } = dueImageChecks(input, {
    schedule: REHEARSAL_SCHEDULE,
    noun: 'rehearsal',
    done: 'rehearsed',
    of: (policy) => policy.rehearsal,
    isMine: (job) => job.rehearsal !== undefined,
    latest: latestUsableImage,
    noImage: (client, policy) => `client ${client} has no usable image of policy ${policy.name} to rehearse a restore of`,
    detail: (schedule) => ` (${schedule.sample === 'all' ? 'the whole tree' : `${schedule.sample} files`})`,
  });
  return { due: due.map((d) => ({ kind: 'rehearsal', ...d })), notDue };
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
