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
export function openWindowAt(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  // A window lasts at most 7 days, so only openings from the last 7 days can still be open.
  return occurrences(windows, zone, now, -7, 0)
    .filter((o) => o.start <= now && now < o.end)
    .sort((a, b) => b.start.getTime() - a.start.getTime())[0];
}

/** The first opening that starts after `now`, within the next 8 days. */
export function nextWindowAfter(windows: readonly StartWindow[], zone: string, now: Date): WindowOccurrence | undefined {
  return occurrences(windows, zone, now, 0, 8)
    .filter((o) => o.start > now)
    .sort((a, b) => a.start.getTime() - b.start.getTime())[0];
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
