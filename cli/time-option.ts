import { InvalidArgumentError } from 'commander';
import { DateTime, Info } from 'luxon';

/**
 * One strict reading of ISO 8601 for every time option (`--at`). `new Date()`
 * rolls an impossible date over (2026-02-30 becomes March 2), which for a
 * restore means the wrong image; luxon checks the calendar, so an impossible
 * date is refused with the reason. A time without an offset is local time on
 * this machine, as ISO 8601 says; `Z` or `+01:00` make it absolute.
 *
 * Used as commander's argument parser (`.option('--at <time>', '...', parseIsoTime)`),
 * so a refusal is a usage error naming the flag, the value and the reason,
 * raised before anything is opened.
 */
export function parseIsoTime(text: string): Date {
  const time = DateTime.fromISO(text.trim(), { setZone: true });
  if (!time.isValid) throw new InvalidArgumentError(whyInvalid(text.trim(), time.invalidExplanation));
  // luxon accepts any two-digit hour offset; real zones run from -12:00 to +14:00.
  if (time.offset < -12 * 60 || time.offset > 14 * 60) throw new InvalidArgumentError(`UTC offsets run from -12:00 to +14:00`);
  return time.toJSDate();
}

/** The calendar fact an impossible date breaks, in words (`February 2026 has 28 days`). */
function whyInvalid(text: string, explanation: string | null): string {
  const calendar = /^([+-]\d{6}|\d{4})-?(\d{2})-?(\d{2})(?:$|T)/.exec(text);
  if (calendar) {
    const [year, month, day] = calendar.slice(1).map(Number) as [number, number, number];
    if (month < 1 || month > 12) return `there is no month ${calendar[2]} (months run 01 to 12)`;
    const days = DateTime.utc(year, month).daysInMonth!;
    if (day < 1) return 'days of the month start at 01';
    if (day > days) return `${Info.months('long', { locale: 'en' })[month - 1]} ${year} has ${days} days`;
  }
  const unit = explanation && /you specified (\S+) \(of type \w+\) as an? (\w+), which is invalid/.exec(explanation);
  if (unit) return `${unit[2]} ${unit[1]} is out of range`;
  return 'not an ISO 8601 time (e.g. 2026-11-24T22:30:00Z)';
}
