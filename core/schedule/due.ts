import type { Policy } from '../model/policy.ts';
import type { Job } from '../model/job.ts';
import type { Image } from '../model/image.ts';

export interface DueJob {
  policy: string;
  client: string;
  schedule: string;
  level: Policy['schedules'][number]['type'];
  reason: string;
}
export interface NotDue {
  policy: string;
  client: string;
  schedule: string;
  reason: string;
}

/**
 * Which (policy, client, schedule) are due at `now`, each with its reason, and
 * why the rest are not. Frequency-based schedules only: due when the last
 * successful image of that schedule is at least `frequency` old (or
 * there is none) and no job for it is in flight. Backup windows, calendars and
 * retries are not modelled yet (issue 3).
 */
export function dueJobs(input: { policies: Policy[]; images: Image[]; jobsInFlight: Job[]; now: Date }): { due: DueJob[]; notDue: NotDue[] } {
  const due: DueJob[] = [];
  const notDue: NotDue[] = [];
  const policies = [...input.policies].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
  for (const policy of policies) {
    const clients = [...policy.clients].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
    for (const client of clients) {
      for (const schedule of policy.schedules) {
        const key = { policy: policy.name, client: client.name, schedule: schedule.name };
        if (!policy.active) {
          notDue.push({ ...key, reason: 'policy is inactive' });
          continue;
        }
        if (schedule.frequency === undefined) {
          notDue.push({ ...key, reason: 'schedule has no frequency (manual only)' });
          continue;
        }
        if (input.jobsInFlight.some((j) => j.policy === policy.name && j.client === client.name && j.schedule === schedule.name)) {
          notDue.push({ ...key, reason: 'a job for it is already queued or active' });
          continue;
        }
        const last = input.images
          .filter((i) => i.policy === policy.name && i.client === client.name && i.schedule === schedule.name && i.statusCode <= 1)
          .reduce<Image | undefined>((latest, i) => (!latest || i.createdAt > latest.createdAt ? i : latest), undefined);
        if (!last) {
          due.push({ ...key, level: schedule.type, reason: 'no successful backup yet' });
          continue;
        }
        const ageSeconds = (input.now.getTime() - Date.parse(last.createdAt)) / 1000;
        if (ageSeconds >= schedule.frequency) due.push({ ...key, level: schedule.type, reason: `last success ${last.backupId} is ${Math.floor(ageSeconds)} s old, frequency ${schedule.frequency} s` });
        else notDue.push({ ...key, reason: `next due in ${Math.ceil(schedule.frequency - ageSeconds)} s (last success ${last.backupId})` });
      }
    }
  }
  return { due, notDue };
}
