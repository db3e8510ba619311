import type { Image } from '../model/image.ts';
import type { VerifyJob } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { executionNameFor, type DueInput, type NotDue } from './due.ts';
import { openWindowAt } from './windows.ts';

/** The schedule name verify jobs and their decisions carry (a policy's verify is not one of its backup schedules). */
export const VERIFY_SCHEDULE = 'verify';

/** A verify the scheduler should start now: the latest image of one client of one policy. */
export interface DueVerify {
  policy: string;
  client: string;
  backupId: string;
  /** The due instant: the window's opening, or the last verify of the same image plus the frequency, whichever is later. */
  dueSince: string;
  reason: string;
  /** Built from the image and the due instant: a tick that runs twice starts it once. */
  executionName: string;
}

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
  const due: DueVerify[] = [];
  const notDue: NotDue[] = [];
  // A restore rehearsal is a verify-kind job of its own schedule (rehearsal-due.ts): it is not a verify of the image.
  const verifies = input.jobs.filter((j): j is VerifyJob => j.type === 'verify' && j.rehearsal === undefined);
  for (const policy of input.policies) {
    const schedule = policy.verify;
    if (schedule === undefined) continue;
    const no = (client: string, reason: string): void => void notDue.push({ policy: policy.name, client, schedule: VERIFY_SCHEDULE, reason });
    const gate = input.suspended ? 'the scheduler is suspended' : !policy.active ? 'the policy is inactive' : undefined;
    const window = gate === undefined ? openWindowAt(schedule.windows, policy.timeZone, input.now) : undefined;
    for (const { name: client } of policy.clients) {
      if (gate !== undefined) {
        no(client, gate);
        continue;
      }
      if (window === undefined) {
        no(client, 'no verify window is open');
        continue;
      }
      const image = latestImage(input.images, policy, client);
      if (image === undefined) {
        no(client, `client ${client} has no image of policy ${policy.name} to verify`);
        continue;
      }
      const mine = verifies.filter((j) => j.policy === policy.name && j.client === client);
      const running = mine.find((j) => j.state !== 'DONE');
      if (running) {
        no(client, `verify job ${running.jobId} of ${running.image} is still ${running.state}`);
        continue;
      }
      const last = mine.filter((j) => j.image === image.backupId).sort((a, b) => b.queuedAt.localeCompare(a.queuedAt))[0];
      const nextAt = last === undefined ? window.start : new Date(Math.max(window.start.getTime(), Date.parse(last.queuedAt) + schedule.frequency * 1000));
      if (nextAt > input.now) {
        no(client, `image ${image.backupId} was verified at ${last!.queuedAt} (status ${last!.statusCode ?? '?'}); next after ${nextAt.toISOString()} (every ${formatDuration(schedule.frequency)})`);
        continue;
      }
      const imageSeconds = Math.floor(Date.parse(image.createdAt) / 1000);
      due.push({
        policy: policy.name,
        client,
        backupId: image.backupId,
        dueSince: nextAt.toISOString(),
        reason: last === undefined ? `image ${image.backupId} has not been verified` : `image ${image.backupId} was last verified at ${last.queuedAt}, ${formatDuration(schedule.frequency)} or more ago`,
        executionName: executionNameFor(policy.name, client, `${VERIFY_SCHEDULE}-${imageSeconds}`, nextAt),
      });
    }
  }
  return { due, notDue };
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
