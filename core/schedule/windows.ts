import { DateTime } from 'luxon';
import type { StartWindow, Weekday } from '../model/policy.ts';
import { weekdays } from '../model/policy.ts';

/** One opening of a start window: real instants, and the local day it opened on. */
export interface WindowOccurrence {
  start: Date;
  end: Date;
  /** The local date (yyyy-mm-dd) the window opened on: a window past midnight belongs to the day it started. */
  runDay: string;
}

const weekdayOf = (day: DateTime): Weekday => weekdays[day.weekday - 1]!;

/** A window lasts at most 7 days, so only openings from the last 7 days can still be open. */
const OPEN_FROM_DAY = -7;
/** How far ahead the next opening is looked for. */
const NEXT_TO_DAY = 8;

interface LocalDay {
  date: DateTime;
  weekday: Weekday;
  iso: string;
}

/**
 * The local days around one instant in one zone, and the instants of local
 * times on them: everything the windows of every schedule in that zone are
 * read against at that instant. Built once per (zone, instant) and shared, so
 * the time-zone arithmetic (luxon, the costly part) is done once per distinct
 * local time rather than once per window of every client. Local start times
 * are read in the zone; a start inside a DST gap moves forward to the first
 * valid instant, and a duration is elapsed time, so a window across a DST
 * change still lasts what it says.
 */
export class LocalDays {
  private readonly days = new Map<number, LocalDay>();
  /** Instant (ms) of a local time on a day: key is `offset * 10000 + hour * 100 + minute`. */
  private readonly instants = new Map<number, number>();
  private readonly today: DateTime;

  constructor(
    zone: string,
    readonly at: Date,
  ) {
    this.today = DateTime.fromJSDate(at, { zone }).startOf('day');
  }

  private day(offset: number): LocalDay {
    let day = this.days.get(offset);
    if (!day) {
      const date = this.today.plus({ days: offset });
      day = { date, weekday: weekdayOf(date), iso: date.toISODate()! };
      this.days.set(offset, day);
    }
    return day;
  }

  private instant(offset: number, day: LocalDay, start: string): number {
    const [hour, minute] = start.split(':').map(Number) as [number, number];
    const key = offset * 10_000 + hour * 100 + minute;
    let ms = this.instants.get(key);
    if (ms === undefined) {
      ms = day.date.set({ hour, minute }).toMillis();
      this.instants.set(key, ms);
    }
    return ms;
  }

  /** The openings of `windows` that start on local days `fromDay` to `toDay` (offsets from `at`'s local day), by day, then in window order. */
  occurrences(windows: readonly StartWindow[], fromDay: number, toDay: number): WindowOccurrence[] {
    const out: WindowOccurrence[] = [];
    for (let offset = fromDay; offset <= toDay; offset++) {
      const day = this.day(offset);
      for (const window of windows) {
        if (!window.days.includes(day.weekday)) continue;
        const start = this.instant(offset, day, window.start);
        // Elapsed time: the same as luxon's plus({ seconds }), which adds time units as milliseconds.
        out.push({ start: new Date(start), end: new Date(start + window.duration * 1000), runDay: day.iso });
      }
    }
    return out;
  }

  /** The opening that contains `at` (the most recently opened one if several do; of equal openings the first), or undefined. */
  openWindow(windows: readonly StartWindow[]): WindowOccurrence | undefined {
    const now = this.at.getTime();
    let open: WindowOccurrence | undefined;
    for (const o of this.occurrences(windows, OPEN_FROM_DAY, 0)) {
      if (o.start.getTime() <= now && now < o.end.getTime() && (!open || o.start.getTime() > open.start.getTime())) open = o;
    }
    return open;
  }

  /** The first opening that starts after `at`, within the next 8 days (of equal openings the first). */
  nextWindow(windows: readonly StartWindow[]): WindowOccurrence | undefined {
    const now = this.at.getTime();
    let next: WindowOccurrence | undefined;
    for (const o of this.occurrences(windows, 0, NEXT_TO_DAY)) {
      if (o.start.getTime() > now && (!next || o.start.getTime() < next.start.getTime())) next = o;
    }
    return next;
  }
}

/** The opening that contains `now` (the most recently opened one if several do), or undefined. */
export function openWindowAt(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  return new LocalDays(zone, now).openWindow(windows);
}

/** The first opening that starts after `now`, within the next 8 days. */
export function nextWindowAfter(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  return new LocalDays(zone, now).nextWindow(windows);
}

/** Is the local date `runDay` (yyyy-mm-dd) a run day of the calendar? */
export function isCalendarRunDay(calendar: { weekdays: readonly Weekday[]; daysOfMonth: readonly number[]; lastDayOfMonth: boolean; dates: readonly string[]; excludeDates: readonly string[] }, runDay: string): { runDay: boolean; why: string } {
  if (calendar.excludeDates.includes(runDay)) return { runDay: false, why: `${runDay} is an excluded date` };
  const day = DateTime.fromISO(runDay, { zone: 'UTC' });
  if (calendar.dates.includes(runDay)) return { runDay: true, why: `${runDay} is a specific run date` };
  if (calendar.weekdays.includes(weekdayOf(day))) return { runDay: true, why: `${runDay} is a ${weekdayOf(day)}` };
  if (calendar.daysOfMonth.includes(day.day)) return { runDay: true, why: `${runDay} is day ${day.day} of the month` };
  if (calendar.lastDayOfMonth && day.day === day.daysInMonth) return { runDay: true, why: `${runDay} is the last day of the month` };
  return { runDay: false, why: `${runDay} is not a run day of the calendar` };
}
