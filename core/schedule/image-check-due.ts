import type { Image } from '../model/image.ts';
import type { VerifyJob } from '../model/job.ts';
import type { Policy, StartWindow } from '../model/policy.ts';
import { formatDuration } from '../model/durations.ts';
import { executionNameFor, type DueInput, type NotDue } from './due.ts';
import { openWindowAt } from './windows.ts';

/** A check the scheduler should start now (a verify or a restore rehearsal): the latest image of one client of one policy. */
export interface DueVerify {
  policy: string;
  client: string;
  backupId: string;
  /** The due instant: the window's opening, or the last check of the same image plus the frequency, whichever is later. */
  dueSince: string;
  reason: string;
  /** Built from the image and the due instant: a tick that runs twice starts it once. */
  executionName: string;
}

/** What tells a verify schedule from a rehearsal schedule; the decision itself is the same (dueImageChecks). */
export interface ImageCheck<S extends { frequency: number; windows: StartWindow[] }> {
  /** The schedule name its jobs and decisions carry (`verify`, `rehearsal`). */
  schedule: string;
  /** The noun and past participle its reasons use: `verify` / `verified`, `rehearsal` / `rehearsed`. */
  noun: string;
  done: string;
  /** The policy's schedule of this check, if it has one. */
  of: (policy: Policy) => S | undefined;
  /** The verify-kind jobs that are checks of this kind. */
  isMine: (job: VerifyJob) => boolean;
  /** The image a check of the client would read, and why there is none. */
  latest: (images: readonly Image[], policy: Policy, client: string) => Image | undefined;
  noImage: (client: string, policy: Policy) => string;
  /** Added to a due reason (a rehearsal's sample). */
  detail?: (schedule: S) => string;
}

/**
 * Which checks of one kind are due (nbpem for bpverify, and Cairn's restore
 * rehearsals): for every active policy with the check's schedule and each of
 * its clients, the client's latest image (as the check chooses it) is due
 * when a window is open and either no check of that image has run yet, or
 * the last one was queued at least `frequency` ago. Not due, with the reason
 * `cairn schedule due` shows: suspended, inactive, outside the window, no
 * image yet, a check of the client still running, or checked recently.
 * Pure: time comes in `input.now`.
 */
export function dueImageChecks<S extends { frequency: number; windows: StartWindow[] }>(input: DueInput, check: ImageCheck<S>): { due: DueVerify[]; notDue: NotDue[] } {
  const due: DueVerify[] = [];
  const notDue: NotDue[] = [];
  const checks = input.jobs.filter((j): j is VerifyJob => j.type === 'verify' && check.isMine(j));
  for (const policy of input.policies) {
    const schedule = check.of(policy);
    if (schedule === undefined) continue;
    const no = (client: string, reason: string): void => void notDue.push({ policy: policy.name, client, schedule: check.schedule, reason });
    const gate = input.suspended ? 'the scheduler is suspended' : !policy.active ? 'the policy is inactive' : undefined;
    const window = gate === undefined ? openWindowAt(schedule.windows, policy.timeZone, input.now) : undefined;
    for (const { name: client } of policy.clients) {
      if (gate !== undefined) {
        no(client, gate);
        continue;
      }
      if (window === undefined) {
        no(client, `no ${check.noun} window is open`);
        continue;
      }
      const image = check.latest(input.images, policy, client);
      if (image === undefined) {
        no(client, check.noImage(client, policy));
        continue;
      }
      const mine = checks.filter((j) => j.policy === policy.name && j.client === client);
      const running = mine.find((j) => j.state !== 'DONE');
      if (running) {
        no(client, `${check.noun} job ${running.jobId} of ${running.image} is still ${running.state}`);
        continue;
      }
      const last = mine.filter((j) => j.image === image.backupId).sort((a, b) => b.queuedAt.localeCompare(a.queuedAt))[0];
      const nextAt = last === undefined ? window.start : new Date(Math.max(window.start.getTime(), Date.parse(last.queuedAt) + schedule.frequency * 1000));
      if (nextAt > input.now) {
        no(client, `image ${image.backupId} was ${check.done} at ${last!.queuedAt} (status ${last!.statusCode ?? '?'}); next after ${nextAt.toISOString()} (every ${formatDuration(schedule.frequency)})`);
        continue;
      }
      const imageSeconds = Math.floor(Date.parse(image.createdAt) / 1000);
      const detail = check.detail?.(schedule) ?? '';
      due.push({
        policy: policy.name,
        client,
        backupId: image.backupId,
        dueSince: nextAt.toISOString(),
        reason: last === undefined ? `image ${image.backupId} has not been ${check.done}${detail}` : `image ${image.backupId} was last ${check.done} at ${last.queuedAt}, ${formatDuration(schedule.frequency)} or more ago${detail}`,
        executionName: executionNameFor(policy.name, client, `${check.schedule}-${imageSeconds}`, nextAt),
      });
    }
  }
  return { due, notDue };
}
