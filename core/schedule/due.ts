import type { Policy, Schedule, StartWindow } from '../model/policy.ts';
import type { BackupJob, Job } from '../model/job.ts';
import type { Image } from '../model/image.ts';
import { formatDuration } from '../model/durations.ts';
import { isCalendarRunDay, LocalDays, type WindowOccurrence } from './windows.ts';

export interface DueJob {
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
  /** Recent jobs, any state: in-flight ones block, and so does a job already started for the same due instant. */
  jobs: readonly Job[];
  suspended?: boolean;
  now: Date;
}

const levelRank: Record<Schedule['type'], number> = { full: 3, 'cumulative-incremental': 2, 'differential-incremental': 1 };
/** A calendar schedule counts as weekly when schedules of one client compete (frequency wins, then level). */
const CALENDAR_PRECEDENCE_SECONDS = 7 * 86_400;

/** Execution names allow 80 characters of [A-Za-z0-9._-]; names are built from restricted names, and hashed if too long. */
export function executionNameFor(policy: string, client: string, schedule: string, dueAt: Date): string {
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
export function dueInstantOf(job: Pick<BackupJob, 'dueAt' | 'windowStart'>): string | undefined {
  return job.dueAt ?? job.windowStart;
}

type Candidate = DueJob & { policyPriority: number; clientPriority: number; precedence: [number, number] };
type Decision = { due: Candidate } | { notDue: string };

/**
 * What one schedule of one policy is decided on, the same for every client:
 * worked out once per call and shared by the policy's clients (the window
 * opening is the costly part).
 */
interface SchedulePlan {
  policy: Policy;
  schedule: Schedule;
  /** Why it is never due at this instant, whatever the client (suspended, inactive, manual-only). */
  gate: string | undefined;
  /** The schedules whose images satisfy this one (see `lastSuccess`). */
  satisfiedBy: readonly string[];
  /** The open window, or why none is; computed on first use. */
  window(): { open: WindowOccurrence } | { notDue: string };
  /** A calendar schedule's run-day verdict for the open window's day; computed on first use. */
  runDay(window: WindowOccurrence): { runDay: boolean; why: string };
}

/** Everything one (policy, client, schedule) is decided on. */
interface ScheduleContext {
  plan: SchedulePlan;
  client: Policy['clients'][number];
  history: History;
  now: Date;
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
 *
 * Cost: window openings are computed once per (windows, time zone) and the
 * history is indexed once per call, so a call is linear in triples plus
 * history (issue 8: 100,000 triples in well under a second).
 */
export function dueJobs(input: DueInput): { due: DueJob[]; notDue: NotDue[] } {
  const due: Candidate[] = [];
  const notDue: NotDue[] = [];
  const history = indexHistory(input);
  const windows = new WindowBook(input.now);
  for (const policy of input.policies) {
    const plans = policy.schedules.map((schedule) => planSchedule(policy, schedule, input, windows));
    for (const client of policy.clients) {
      const candidates: Candidate[] = [];
      for (const plan of plans) {
        const decision = decideSchedule({ plan, client, history, now: input.now });
        if ('due' in decision) candidates.push(decision.due);
        else notDue.push({ policy: policy.name, client: client.name, schedule: plan.schedule.name, reason: decision.notDue });
      }
      const { winner, losers } = bySchedulePrecedence(candidates);
      if (winner) due.push(winner);
      notDue.push(...losers);
    }
  }
  return { due: inWorklistOrder(due).map(({ policyPriority: _p, clientPriority: _c, precedence: _r, ...job }) => job), notDue };
}

/**
 * Window openings at one instant, by time zone and by windows: schedules with
 * the same windows in the same zone (every client of a policy, and policies
 * that share window definitions) share one computation.
 */
class WindowBook {
  private readonly zones = new Map<string, LocalDays>();
  private readonly openings = new Map<string, { open: WindowOccurrence } | { notDue: string }>();

  constructor(private readonly now: Date) {}

  window(windows: readonly StartWindow[], zone: string): { open: WindowOccurrence } | { notDue: string } {
    const key = `${zone}\u0000${windows.map((w) => `${w.days.join(',')}@${w.start}+${w.duration}`).join(';')}`;
    let found = this.openings.get(key);
    if (!found) {
      let days = this.zones.get(zone);
      if (!days) this.zones.set(zone, (days = new LocalDays(zone, this.now)));
      const open = days.openWindow(windows);
      if (open) found = { open };
      else {
        const next = days.nextWindow(windows);
        found = { notDue: `no start window is open${next ? `; the next opens ${next.start.toISOString()}` : ''}` };
      }
      this.openings.set(key, found);
    }
    return found;
  }
}

/** One schedule of one policy: what holds for all its clients, computed at most once. */
function planSchedule(policy: Policy, schedule: Schedule, input: DueInput, windows: WindowBook): SchedulePlan {
  let window: ReturnType<SchedulePlan['window']> | undefined;
  const runDays = new Map<string, { runDay: boolean; why: string }>();
  return {
    policy,
    schedule,
    gate: schedulingGate(policy, schedule, input),
    satisfiedBy: satisfyingSchedules(policy, schedule),
    window: () => (window ??= windows.window(schedule.windows, policy.timeZone)),
    runDay: (open) => {
      let verdict = runDays.get(open.runDay);
      if (!verdict) runDays.set(open.runDay, (verdict = isCalendarRunDay(schedule.calendar!, open.runDay)));
      return verdict;
    },
  };
}

/** One (policy, client, schedule): the gates in the order an operator reads them, then the due instant. */
function decideSchedule(ctx: ScheduleContext): Decision {
  const { plan, client } = ctx;
  const { policy, schedule } = plan;
  if (plan.gate) return { notDue: plan.gate };
  const sameKey = ctx.history.jobsOf(policy.name, client.name, schedule.name);
  const inFlight = sameKey.find((j) => j.state !== 'DONE');
  if (inFlight) return { notDue: `job ${inFlight.jobId} for it is ${inFlight.state}` };
  const window = plan.window();
  if ('notDue' in window) return window;
  const instant = schedule.frequency !== undefined ? frequencyDueInstant(ctx, schedule.frequency, window.open, sameKey) : calendarDueInstant(ctx, window.open, sameKey);
  if ('notDue' in instant) return instant;
  return {
    due: {
      policy: policy.name,
      client: client.name,
      schedule: schedule.name,
      level: schedule.type,
      windowStart: window.open.start.toISOString(),
      windowEnd: window.open.end.toISOString(),
      dueSince: instant.dueAt.toISOString(),
      reason: instant.reason,
      executionName: executionNameFor(policy.name, client.name, schedule.name, instant.dueAt),
      policyPriority: policy.priority,
      clientPriority: client.priority,
      precedence: [schedule.frequency ?? CALENDAR_PRECEDENCE_SECONDS, levelRank[schedule.type]],
    },
  };
}

/** Reasons that hold whatever the time: scheduling suspended, policy inactive, a manual-only schedule. */
function schedulingGate(policy: Policy, schedule: Schedule, input: DueInput): string | undefined {
  if (input.suspended) return 'scheduling is suspended (cairn schedule resume)';
  if (!policy.active) return 'policy is inactive';
  if (schedule.frequency === undefined && schedule.calendar === undefined) return 'manual-only schedule (no frequency or calendar)';
  return undefined;
}

/** The schedules whose successful images satisfy `schedule`: itself, and those with a longer (or equal) frequency and at least its level. */
function satisfyingSchedules(policy: Policy, schedule: Schedule): string[] {
  const names = policy.schedules
    .filter((o) => o.name === schedule.name || (schedule.frequency !== undefined && o.frequency !== undefined && o.frequency >= schedule.frequency && levelRank[o.type] >= levelRank[schedule.type]))
    .map((o) => o.name);
  return [...new Set(names)];
}

/** The history a call reads, indexed once by (policy, client, schedule) instead of filtered for every triple. */
interface History {
  /** The backup jobs of one triple, in input order. */
  jobsOf(policy: string, client: string, schedule: string): readonly BackupJob[];
  /** The newest successful image of one triple (of equally new ones the first in input order), with its input position. */
  newestSuccessOf(policy: string, client: string, schedule: string): { image: Image; at: number } | undefined;
}

/** policy → client → schedule → T: nested maps, so a look-up builds no key string. */
class TripleMap<T> {
  private readonly byPolicy = new Map<string, Map<string, Map<string, T>>>();

  get(policy: string, client: string, schedule: string): T | undefined {
    return this.byPolicy.get(policy)?.get(client)?.get(schedule);
  }

  set(policy: string, client: string, schedule: string, value: T): void {
    let byClient = this.byPolicy.get(policy);
    if (!byClient) this.byPolicy.set(policy, (byClient = new Map()));
    let bySchedule = byClient.get(client);
    if (!bySchedule) byClient.set(client, (bySchedule = new Map()));
    bySchedule.set(schedule, value);
  }
}

const NO_JOBS: readonly BackupJob[] = [];

function indexHistory(input: DueInput): History {
  const jobs = new TripleMap<BackupJob[]>();
  for (const job of input.jobs) {
    if (job.type !== 'backup') continue;
    const list = jobs.get(job.policy, job.client, job.schedule);
    if (list) list.push(job);
    else jobs.set(job.policy, job.client, job.schedule, [job]);
  }
  const newest = new TripleMap<{ image: Image; at: number }>();
  input.images.forEach((image, at) => {
    if (image.statusCode > 1) return;
    const found = newest.get(image.policy, image.client, image.schedule);
    if (!found || image.createdAt > found.image.createdAt) newest.set(image.policy, image.client, image.schedule, { image, at });
  });
  return {
    jobsOf: (policy, client, schedule) => jobs.get(policy, client, schedule) ?? NO_JOBS,
    newestSuccessOf: (policy, client, schedule) => newest.get(policy, client, schedule),
  };
}

/**
 * The newest successful image that satisfies this schedule: its own, or one
 * of a schedule with a longer (or equal) frequency and at least this level.
 * After the weekly full, the daily incremental waits a day. Of equally new
 * images, the first in the catalog's order.
 */
function lastSuccess({ plan, client, history }: ScheduleContext): Image | undefined {
  let latest: { image: Image; at: number } | undefined;
  for (const name of plan.satisfiedBy) {
    const found = history.newestSuccessOf(plan.policy.name, client.name, name);
    if (found && (!latest || found.image.createdAt > latest.image.createdAt || (found.image.createdAt === latest.image.createdAt && found.at < latest.at))) latest = found;
  }
  return latest?.image;
}

const NO_STARTS: ReadonlyMap<string | undefined, BackupJob> = new Map();

type Instant = { dueAt: Date; reason: string } | { notDue: string };

/**
 * A frequency schedule's due instant: the later of the window opening and the
 * last success plus the frequency. A due instant that already has a job (one
 * that ended without a backup, or the success is not catalogued yet) is
 * skipped by whole frequencies, so a failure does not block the rest of the
 * window and no instant ever gets a second job.
 */
function frequencyDueInstant(ctx: ScheduleContext, frequency: number, window: WindowOccurrence, sameKey: readonly BackupJob[]): Instant {
  const now = ctx.now;
  const last = lastSuccess(ctx);
  const lastAt = last ? new Date(last.createdAt) : undefined;
  const frequencyMs = frequency * 1000;
  if (lastAt && now.getTime() - lastAt.getTime() < frequencyMs) {
    return { notDue: `frequency ${formatDuration(frequency)} not reached: last success ${last!.backupId}, due again ${new Date(lastAt.getTime() + frequencyMs).toISOString()}` };
  }
  const frequencyRanOut = lastAt ? new Date(lastAt.getTime() + frequencyMs) : window.start;
  let dueAt = frequencyRanOut > window.start ? frequencyRanOut : window.start;
  const started = sameKey.length === 0 ? NO_STARTS : new Map(sameKey.map((j) => [dueInstantOf(j), j] as const));
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
  const runDay = ctx.plan.runDay(window);
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

/** What a due job asks the backup-job workflow for: the same in every runtime's tick. */
export function scheduledRequest(job: DueJob): { policy: string; client: string; schedule: string; level: DueJob['level']; windowStart: string; windowEnd: string; dueAt: string; executionName: string } {
  return { policy: job.policy, client: job.client, schedule: job.schedule, level: job.level, windowStart: job.windowStart, windowEnd: job.windowEnd, dueAt: job.dueSince, executionName: job.executionName };
}
