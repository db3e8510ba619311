import type { Image } from '../model/image.ts';
import type { Policy } from '../model/policy.ts';
import type { DueInput, NotDue } from './due.ts';
import { dueImageChecks, type DueVerify } from './image-check-due.ts';

/** The schedule name verify jobs and their decisions carry (a policy's verify is not one of its backup schedules). */
export const VERIFY_SCHEDULE = 'verify';

export type { DueVerify } from './image-check-due.ts';

/**
 * Which verifies are due (nbpem for bpverify): for every active policy with
 * a `verify` schedule and each of its clients, the client's latest ACTIVE
 * image of that policy is due when a verify window is open and either no
 * verify job of that image has run yet, or the last one was queued at least
 * `frequency` ago. Not due, with the reason `cairn schedule due` would show:
 * suspended, inactive, outside the window, no image yet, a verify of the
 * client still running, or verified recently. Pure: time comes in `input.now`.
 */
export function dueVerifies(input: DueInput): { due: DueVerify[]; notDue: NotDue[] } {
  return dueImageChecks(input, {
    schedule: VERIFY_SCHEDULE,
    noun: 'verify',
    done: 'verified',
    of: (policy) => policy.verify,
    // A restore rehearsal is a verify-kind job of its own schedule (rehearsal-due.ts): it is not a verify of the image.
    isMine: (job) => job.rehearsal === undefined,
    latest: latestImage,
    noImage: (client, policy) => `client ${client} has no image of policy ${policy.name} to verify`,
  });
}

/** The request a due verify starts its verify-job execution with (core/jobs/verify-job.ts VerifyRequest). */
export function scheduledVerifyRequest(job: DueVerify): { backupId: string; policy: string; schedule: string; executionName: string } {
  return { backupId: job.backupId, policy: job.policy, schedule: VERIFY_SCHEDULE, executionName: job.executionName };
}

function latestImage(images: readonly Image[], policy: Policy, client: string): Image | undefined {
  let latest: Image | undefined;
  for (const image of images) {
    if (image.policy !== policy.name || image.client !== client || image.state !== 'ACTIVE') continue;
    if (latest === undefined || image.createdAt > latest.createdAt) latest = image;
  }
  return latest;
}
