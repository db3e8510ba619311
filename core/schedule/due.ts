import type { Policy, Schedule } from '../model/policy.ts';
import type { BackupJob, Job } from '../model/job.ts';
import type { Image } from '../model/image.ts';
import { formatDuration } from '../model/durations.ts';
import { isCalendarRunDay, nextWindowAfter, openWindowAt } from './windows.ts';

export interface DueJob {
  policy: string;
  client: string;
  schedule: string;
  level: Schedule['type'];
  /** The window opening the job starts in; one job per (policy, client, schedule, window). */
  windowStart: string;
  windowEnd: string;
  /** When it became due: the later of the window's start and the frequency running out. */
  dueSince: string;
  reason: string;
  /** The workflow execution name: the same due job always gets the same name, so it cannot start twice. */
  executionName: string;
}

export interface NotDue {
  policy: string;
  client: string;
  schedule: string;
  reason: string;
}

export interface DueInput {
  policies: readonly Policy[];
  /** Catalogued images: the last success per (policy, client, schedule) comes from here. */
  images: readonly Image[];
  /** Recent jobs, any state: in-flight ones block, and so does a job already started in the same window. */
  jobs: readonly Job[];
  suspended?: boolean;
  now: Date;
}

const levelRank: Record<Schedule['type'], number> = { full: 3, 'cumulative-incremental': 2, 'differential-incremental': 1 };
/** A calendar schedule counts as weekly when schedules of one client compete (frequency wins, then level). */
const CALENDAR_PRECEDENCE_SECONDS = 7 * 86_400;

/** Execution names allow 80 characters of [A-Za-z0-9._-]; names are built from restricted names, and hashed if too long. */
export function executionNameFor(policy: string, client: string, schedule: string, windowStart: Date): string {
  const name = `${policy}.${client}.${schedule}.${Math.floor(windowStart.getTime() / 1000)}`;
  if (name.length <= 80) return name;
  let hash = 0x811c9dc5;
  for (const ch of name) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name.slice(0, 71)}-${hash.toString(16).padStart(8, '0')}`;
}

/**
 * The policy execution manager's decision (nbpem): which (policy, client,
 * schedule) are due at `now`, each with why, and why each other one is not.
 * Pure: everything comes in as values.
 *
 * - Frequency-based: due when the last successful image of the schedule (or
 *   of one with a longer frequency and at least its level, as a full covers
 *   an incremental) is at least `frequency` old, or there is none, and a
 *   start window is open.
 * - Calendar-based: due once per run day, inside a window that opened on it.
 * - Never twice for one window opening, never while a job for it is in flight.
 * - Of several schedules due for one policy and client, the longest frequency
 *   wins (a calendar schedule counts as weekly), then the higher level.
 * - The worklist is ordered by policy priority (higher first), client
 *   priority (lower first), then the time each became due.
 */
export function dueJobs(input: DueInput): { due: DueJob[]; notDue: NotDue[] } {
  const due: (DueJob & { policyPriority: number; clientPriority: number; precedence: [number, number] })[] = [];
  const notDue: NotDue[] = [];
  const now = input.now;

  for (const policy of input.policies) {
    for (const client of policy.clients) {
      const candidates: typeof due = [];
      for (const schedule of policy.schedules) {
        const key = { policy: policy.name, client: client.name, schedule: schedule.name };
        const no = (reason: string): void => void notDue.push({ ...key, reason });
        if (input.suspended) {
          no('scheduling is suspended (cairn schedule resume)');
          continue;
        }
        if (!policy.active) {
          no('policy is inactive');
          continue;
        }
        if (schedule.frequency === undefined && schedule.calendar === undefined) {
          no('manual-only schedule (no frequency or calendar)');
          continue;
        }
        const sameKey = input.jobs.filter((j): j is BackupJob => j.type === 'backup' && j.policy === policy.name && j.client === client.name && j.schedule === schedule.name);
        const inFlight = sameKey.find((j) => j.state !== 'DONE');
        if (inFlight) {
          no(`job ${inFlight.jobId} for it is ${inFlight.state}`);
          continue;
        }
        const window = openWindowAt(schedule.windows, policy.timeZone, now);
        if (!window) {
          const next = nextWindowAfter(schedule.windows, policy.timeZone, now);
          no(`no start window is open${next ? `; the next opens ${next.start.toISOString()}` : ''}`);
          continue;
        }
        const windowStart = window.start.toISOString();
        const ranInWindow = sameKey.find((j) => j.windowStart === windowStart);
        if (ranInWindow) {
          no(`job ${ranInWindow.jobId} already started in this window (opened ${windowStart})`);
          continue;
        }
        // A backup of a schedule with a longer (or equal) frequency and at least this level
        // satisfies this one too: after the weekly full, the daily incremental waits a day.
        const satisfying = new Set(
          policy.schedules
            .filter((o) => o.name === schedule.name || (schedule.frequency !== undefined && o.frequency !== undefined && o.frequency >= schedule.frequency && levelRank[o.type] >= levelRank[schedule.type]))
            .map((o) => o.name),
        );
        const last = input.images
          .filter((i) => i.policy === policy.name && i.client === client.name && satisfying.has(i.schedule) && i.statusCode <= 1)
          .reduce<Image | undefined>((latest, i) => (!latest || i.createdAt > latest.createdAt ? i : latest), undefined);
        const lastAt = last ? new Date(last.createdAt) : undefined;

        let dueSince: Date;
        let reason: string;
        if (schedule.frequency !== undefined) {
          if (lastAt && now.getTime() - lastAt.getTime() < schedule.frequency * 1000) {
            const at = new Date(lastAt.getTime() + schedule.frequency * 1000);
            no(`frequency ${formatDuration(schedule.frequency)} not reached: last success ${last!.backupId}, due again ${at.toISOString()}`);
            continue;
          }
          const frequencyRanOut = lastAt ? new Date(lastAt.getTime() + schedule.frequency * 1000) : window.start;
          dueSince = frequencyRanOut > window.start ? frequencyRanOut : window.start;
          reason = lastAt ? `last success ${last!.backupId} is older than the frequency ${formatDuration(schedule.frequency)}` : 'no successful backup yet';
        } else {
          const runDay = isCalendarRunDay(schedule.calendar!, window.runDay);
          if (!runDay.runDay) {
            no(runDay.why);
            continue;
          }
          if (lastAt && lastAt >= window.start) {
            no(`already backed up on run day ${window.runDay} (${last!.backupId})`);
            continue;
          }
          dueSince = window.start;
          reason = `calendar run day: ${runDay.why}`;
        }
        candidates.push({
          ...key,
          level: schedule.type,
          windowStart,
          windowEnd: window.end.toISOString(),
          dueSince: dueSince.toISOString(),
          reason,
          executionName: executionNameFor(policy.name, client.name, schedule.name, window.start),
          policyPriority: policy.priority,
          clientPriority: client.priority,
          precedence: [schedule.frequency ?? CALENDAR_PRECEDENCE_SECONDS, levelRank[schedule.type]],
        });
      }
      candidates.sort((a, b) => b.precedence[0] - a.precedence[0] || b.precedence[1] - a.precedence[1] || a.schedule.localeCompare(b.schedule));
      const [winner, ...losers] = candidates;
      if (winner) due.push(winner);
      for (const loser of losers) notDue.push({ policy: loser.policy, client: loser.client, schedule: loser.schedule, reason: `due, but schedule ${winner!.schedule} of the same client has the longer frequency and runs instead` });
    }
  }

  due.sort(
    (a, b) =>
      b.policyPriority - a.policyPriority ||
      a.clientPriority - b.clientPriority ||
      a.dueSince.localeCompare(b.dueSince) ||
      a.policy.localeCompare(b.policy) ||
      a.client.localeCompare(b.client),
  );
  return { due: due.map(({ policyPriority: _p, clientPriority: _c, precedence: _r, ...job }) => job), notDue };
}

/** What a due job asks the backup-job workflow for: the same in the standalone tick and the scheduler Lambda. */
export function scheduledRequest(job: DueJob): { policy: string; client: string; schedule: string; level: DueJob['level']; windowStart: string; windowEnd: string; executionName: string } {
  return { policy: job.policy, client: job.client, schedule: job.schedule, level: job.level, windowStart: job.windowStart, windowEnd: job.windowEnd, executionName: job.executionName };
}
