/**
 * FROZEN REFERENCE — do not edit, do not import from product code.
 *
 * The due computation (core/schedule/due.ts and windows.ts) as it was before
 * issue 8 made it fast (window openings shared per schedule windows and time
 * zone, history indexed once per call). test/core/due-equivalence.test.ts runs
 * this and the current `dueJobs` on many generated inputs and expects the
 * same `{ due, notDue }`, so the speed-up provably changed no decision and no
 * reason. Behaviour changes to the due computation go into core/ and its
 * tests; this file stays as it is until the equivalence test is retired.
 */
import { DateTime } from 'luxon';
import type { Policy, Schedule, StartWindow, Weekday } from '#core/model/policy.ts';
import { weekdays } from '#core/model/policy.ts';
import type { BackupJob, Job } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { formatDuration } from '#core/model/durations.ts';

/** One opening of a start window: real instants, and the local day it opened on. */
interface WindowOccurrence {
  start: Date;
  end: Date;
  /** The local date (yyyy-mm-dd) the window opened on: a window past midnight belongs to the day it started. */
  runDay: string;
}

const weekdayOf = (day: DateTime): Weekday => weekdays[day.weekday - 1]!;

/**
 * The openings of `windows` that start on local days from `fromDay` to
 * `toDay` (inclusive offsets from `at`'s local day). Local start times are
 * read in `zone`; a start inside a DST gap moves forward to the first valid
 * instant, and a duration is elapsed time, so a window across a DST change
 * still lasts what it says.
 */
function occurrences(windows: readonly StartWindow[], zone: string, at: Date, fromDay: number, toDay: number): WindowOccurrence[] {
  const today = DateTime.fromJSDate(at, { zone }).startOf('day');
  const out: WindowOccurrence[] = [];
  for (let offset = fromDay; offset <= toDay; offset++) {
    const day = today.plus({ days: offset });
    for (const window of windows) {
      if (!window.days.includes(weekdayOf(day))) continue;
      const [hour, minute] = window.start.split(':').map(Number) as [number, number];
      const start = day.set({ hour, minute });
      out.push({ start: start.toJSDate(), end: start.plus({ seconds: window.duration }).toJSDate(), runDay: day.toISODate()! });
    }
  }
  return out;
}

/** The opening that contains `now` (the most recently opened one if several do), or undefined. */
function openWindowAt(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  // A window lasts at most 7 days, so only openings from the last 7 days can still be open.
  return occurrences(windows, zone, now, -7, 0)
    .filter((o) => o.start <= now && now < o.end)
    .sort((a, b) => b.start.getTime() - a.start.getTime())[0];
}

/** The first opening that starts after `now`, within the next 8 days. */
function nextWindowAfter(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  return occurrences(windows, zone, now, 0, 8)
    .filter((o) => o.start > now)
    .sort((a, b) => a.start.getTime() - b.start.getTime())[0];
}

/** Is the local date `runDay` (yyyy-mm-dd) a run day of the calendar? */
function isCalendarRunDay(calendar: { weekdays: readonly Weekday[]; daysOfMonth: readonly number[]; lastDayOfMonth: boolean; dates: readonly string[]; excludeDates: readonly string[] }, runDay: string): { runDay: boolean; why: string } {
  if (calendar.excludeDates.includes(runDay)) return { runDay: false, why: `${runDay} is an excluded date` };
  const day = DateTime.fromISO(runDay, { zone: 'UTC' });
  if (calendar.dates.includes(runDay)) return { runDay: true, why: `${runDay} is a specific run date` };
  if (calendar.weekdays.includes(weekdayOf(day))) return { runDay: true, why: `${runDay} is a ${weekdayOf(day)}` };
  if (calendar.daysOfMonth.includes(day.day)) return { runDay: true, why: `${runDay} is day ${day.day} of the month` };
  if (calendar.lastDayOfMonth && day.day === day.daysInMonth) return { runDay: true, why: `${runDay} is the last day of the month` };
  return { runDay: false, why: `${runDay} is not a run day of the calendar` };
}

interface DueJob {
  policy: string;
  client: string;
  schedule: string;
  level: Schedule['type'];
  /** The window opening the job starts in; a job still queued when it closes ends with status 196. */
  windowStart: string;
  windowEnd: string;
  /**
   * The due instant: the later of the window's opening and the last success
   * plus the frequency (calendar: the window opening of the run day). One job
   * per (policy, client, schedule, due instant).
   */
  dueSince: string;
  reason: string;
  /** The workflow execution name, built from the due instant: the same due job always gets the same name, so it cannot start twice. */
  executionName: string;
}

interface NotDue {
  policy: string;
  client: string;
  schedule: string;
  reason: string;
}

interface DueInput {
  policies: readonly Policy[];
  /** Catalogued images: the last success per (policy, client, schedule) comes from here. */
  images: readonly Image[];
  /** Recent jobs, any state: in-flight ones block, and so does a job already started for the same due instant. */
  jobs: readonly Job[];
  suspended?: boolean;
  now: Date;
}

const levelRank: Record<Schedule['type'], number> = { full: 3, 'cumulative-incremental': 2, 'differential-incremental': 1 };
/** A calendar schedule counts as weekly when schedules of one client compete (frequency wins, then level). */
const CALENDAR_PRECEDENCE_SECONDS = 7 * 86_400;

/** Execution names allow 80 characters of [A-Za-z0-9._-]; names are built from restricted names, and hashed if too long. */
function executionNameFor(policy: string, client: string, schedule: string, dueAt: Date): string {
  const name = `${policy}.${client}.${schedule}.${Math.floor(dueAt.getTime() / 1000)}`;
  if (name.length <= 80) return name;
  let hash = 0x811c9dc5;
  for (const ch of name) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name.slice(0, 71)}-${hash.toString(16).padStart(8, '0')}`;
}

/**
 * The due instant a job stands for. Jobs from before due instants were
 * recorded ran once per window opening, and their execution name was built
 * from it, so the window opening is their due instant.
 */
function dueInstantOf(job: Pick<BackupJob, 'dueAt' | 'windowStart'>): string | undefined {
  return job.dueAt ?? job.windowStart;
}

type Candidate = DueJob & { policyPriority: number; clientPriority: number; precedence: [number, number] };
type Decision = { due: Candidate } | { notDue: string };
/** Everything one (policy, client, schedule) is decided on. */
interface ScheduleContext {
  policy: Policy;
  client: Policy['clients'][number];
  schedule: Schedule;
  input: DueInput;
}

/**
 * The policy execution manager's decision (nbpem): which (policy, client,
 * schedule) are due at `now`, each with why, and why each other one is not.
 * Pure: everything comes in as values.
 *
 * - Frequency-based: due when the last successful image of the schedule (or
 *   of one with a longer frequency and at least its level, as a full covers
 *   an incremental) is at least `frequency` old, or there is none, and a
 *   start window is open. The due instant is the later of the window opening
 *   and the last success plus the frequency, so an hourly schedule in a
 *   24-hour window runs up to 24 times (as NetBackup does).
 * - Calendar-based: due once per run day, inside a window that opened on it;
 *   the due instant is that window opening.
 * - Never twice for one due instant, never while a job for it is in flight.
 *   A frequency schedule whose job for a due instant ended without a backup
 *   (failed, cancelled) is next due one frequency later.
 * - Of several schedules due for one policy and client, the longest frequency
 *   wins (a calendar schedule counts as weekly), then the higher level.
 * - The worklist is ordered by policy priority (higher first), client
 *   priority (lower first), then the time each became due.
 */
export function referenceDueJobs(input: DueInput): { due: DueJob[]; notDue: NotDue[] } {
  const due: Candidate[] = [];
  const notDue: NotDue[] = [];
  for (const policy of input.policies) {
    for (const client of policy.clients) {
      const candidates: Candidate[] = [];
      for (const schedule of policy.schedules) {
        const decision = decideSchedule({ policy, client, schedule, input });
        if ('due' in decision) candidates.push(decision.due);
        else notDue.push({ policy: policy.name, client: client.name, schedule: schedule.name, reason: decision.notDue });
      }
      const { winner, losers } = bySchedulePrecedence(candidates);
      if (winner) due.push(winner);
      notDue.push(...losers);
    }
  }
  return { due: inWorklistOrder(due).map(({ policyPriority: _p, clientPriority: _c, precedence: _r, ...job }) => job), notDue };
}

/** One (policy, client, schedule): the gates in the order an operator reads them, then the due instant. */
function decideSchedule(ctx: ScheduleContext): Decision {
  const closed = schedulingGate(ctx);
  if (closed) return { notDue: closed };
  const sameKey = ctx.input.jobs.filter((j): j is BackupJob => j.type === 'backup' && j.policy === ctx.policy.name && j.client === ctx.client.name && j.schedule === ctx.schedule.name);
  const inFlight = sameKey.find((j) => j.state !== 'DONE');
  if (inFlight) return { notDue: `job ${inFlight.jobId} for it is ${inFlight.state}` };
  const window = openWindowAt(ctx.schedule.windows, ctx.policy.timeZone, ctx.input.now);
  if (!window) {
    const next = nextWindowAfter(ctx.schedule.windows, ctx.policy.timeZone, ctx.input.now);
    return { notDue: `no start window is open${next ? `; the next opens ${next.start.toISOString()}` : ''}` };
  }
  const instant = ctx.schedule.frequency !== undefined ? frequencyDueInstant(ctx, ctx.schedule.frequency, window, sameKey) : calendarDueInstant(ctx, window, sameKey);
  if ('notDue' in instant) return instant;
  return {
    due: {
      policy: ctx.policy.name,
      client: ctx.client.name,
      schedule: ctx.schedule.name,
      level: ctx.schedule.type,
      windowStart: window.start.toISOString(),
      windowEnd: window.end.toISOString(),
      dueSince: instant.dueAt.toISOString(),
      reason: instant.reason,
      executionName: executionNameFor(ctx.policy.name, ctx.client.name, ctx.schedule.name, instant.dueAt),
      policyPriority: ctx.policy.priority,
      clientPriority: ctx.client.priority,
      precedence: [ctx.schedule.frequency ?? CALENDAR_PRECEDENCE_SECONDS, levelRank[ctx.schedule.type]],
    },
  };
}

/** Reasons that hold whatever the time: scheduling suspended, policy inactive, a manual-only schedule. */
function schedulingGate({ policy, schedule, input }: ScheduleContext): string | undefined {
  if (input.suspended) return 'scheduling is suspended (cairn schedule resume)';
  if (!policy.active) return 'policy is inactive';
  if (schedule.frequency === undefined && schedule.calendar === undefined) return 'manual-only schedule (no frequency or calendar)';
  return undefined;
}

/**
 * The newest successful image that satisfies this schedule: its own, or one
 * of a schedule with a longer (or equal) frequency and at least this level.
 * After the weekly full, the daily incremental waits a day.
 */
function lastSuccess({ policy, client, schedule, input }: ScheduleContext): Image | undefined {
  const satisfying = new Set(
    policy.schedules
      .filter((o) => o.name === schedule.name || (schedule.frequency !== undefined && o.frequency !== undefined && o.frequency >= schedule.frequency && levelRank[o.type] >= levelRank[schedule.type]))
      .map((o) => o.name),
  );
  return input.images
    .filter((i) => i.policy === policy.name && i.client === client.name && satisfying.has(i.schedule) && i.statusCode <= 1)
    .reduce<Image | undefined>((latest, i) => (!latest || i.createdAt > latest.createdAt ? i : latest), undefined);
}

type Instant = { dueAt: Date; reason: string } | { notDue: string };

/**
 * A frequency schedule's due instant: the later of the window opening and the
 * last success plus the frequency. A due instant that already has a job (one
 * that ended without a backup, or the success is not catalogued yet) is
 * skipped by whole frequencies, so a failure does not block the rest of the
 * window and no instant ever gets a second job.
 */
function frequencyDueInstant(ctx: ScheduleContext, frequency: number, window: WindowOccurrence, sameKey: readonly BackupJob[]): Instant {
  const now = ctx.input.now;
  const last = lastSuccess(ctx);
  const lastAt = last ? new Date(last.createdAt) : undefined;
  const frequencyMs = frequency * 1000;
  if (lastAt && now.getTime() - lastAt.getTime() < frequencyMs) {
    return { notDue: `frequency ${formatDuration(frequency)} not reached: last success ${last!.backupId}, due again ${new Date(lastAt.getTime() + frequencyMs).toISOString()}` };
  }
  const frequencyRanOut = lastAt ? new Date(lastAt.getTime() + frequencyMs) : window.start;
  let dueAt = frequencyRanOut > window.start ? frequencyRanOut : window.start;
  const started = new Map(sameKey.map((j) => [dueInstantOf(j), j] as const));
  let blocking: BackupJob | undefined;
  for (let job = started.get(dueAt.toISOString()); job; job = started.get(dueAt.toISOString())) {
    blocking ??= job;
    dueAt = new Date(dueAt.getTime() + frequencyMs);
  }
  if (blocking && dueAt > now) {
    return { notDue: `job ${blocking.jobId} already started for due instant ${dueInstantOf(blocking)}; the next due instant is ${dueAt.toISOString()}` };
  }
  const reason = lastAt ? `last success ${last!.backupId} is older than the frequency ${formatDuration(frequency)}` : 'no successful backup yet';
  return { dueAt, reason: blocking ? `${reason}; job ${blocking.jobId} already ran for due instant ${dueInstantOf(blocking)}` : reason };
}

/** A calendar schedule's due instant: the window opening of a run day not yet backed up, once. */
function calendarDueInstant(ctx: ScheduleContext, window: WindowOccurrence, sameKey: readonly BackupJob[]): Instant {
  const windowStart = window.start.toISOString();
  const ranInWindow = sameKey.find((j) => dueInstantOf(j) === windowStart);
  if (ranInWindow) return { notDue: `job ${ranInWindow.jobId} already started in this window (opened ${windowStart})` };
  const runDay = isCalendarRunDay(ctx.schedule.calendar!, window.runDay);
  if (!runDay.runDay) return { notDue: runDay.why };
  const last = lastSuccess(ctx);
  if (last && new Date(last.createdAt) >= window.start) return { notDue: `already backed up on run day ${window.runDay} (${last.backupId})` };
  return { dueAt: window.start, reason: `calendar run day: ${runDay.why}` };
}

/** Of one client's due schedules the longest frequency runs (a calendar counts as weekly), then the higher level. */
function bySchedulePrecedence(candidates: Candidate[]): { winner?: Candidate; losers: NotDue[] } {
  const [winner, ...rest] = [...candidates].sort((a, b) => b.precedence[0] - a.precedence[0] || b.precedence[1] - a.precedence[1] || a.schedule.localeCompare(b.schedule));
  const losers = rest.map((loser) => ({ policy: loser.policy, client: loser.client, schedule: loser.schedule, reason: `due, but schedule ${winner!.schedule} of the same client has the longer frequency and runs instead` }));
  return { winner, losers };
}

/** Policy priority (higher first), client priority (lower first), then the time each became due. */
function inWorklistOrder(due: Candidate[]): Candidate[] {
  return [...due].sort(
    (a, b) =>
      b.policyPriority - a.policyPriority ||
      a.clientPriority - b.clientPriority ||
      a.dueSince.localeCompare(b.dueSince) ||
      a.policy.localeCompare(b.policy) ||
      a.client.localeCompare(b.client),
  );
}

