import { describe, expect, it } from 'vitest';
import { parseIsoTime } from '#cli/time-option.ts';

describe('time options (--at)', () => {
  it.each([
    ['2026-11-24T22:30:00Z', '2026-11-24T22:30:00.000Z'],
    ['2026-11-24T22:30:00+01:00', '2026-11-24T21:30:00.000Z'],
    ['2028-02-29T12:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['20261124T223000Z', '2026-11-24T22:30:00.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseIsoTime(text).toISOString()).toBe(iso);
  });

  it.each([
    ['2026-02-30T00:00:00Z', 'February 2026 has 28 days'],
    ['2026-02-29', 'February 2026 has 28 days'],
    ['2100-02-29T00:00:00Z', 'February 2100 has 28 days'],
    ['2026-04-31T10:00:00Z', 'April 2026 has 30 days'],
    ['2026-13-01T00:00:00Z', 'there is no month 13 (months run 01 to 12)'],
    ['2026-11-00T00:00:00Z', 'days of the month start at 01'],
    ['2026-11-24T23:60:00Z', 'minute 60 is out of range'],
    ['2026-11-24T22:30:00+25:00', 'UTC offsets run from -12:00 to +14:00'],
    ['yesterday', 'not an ISO 8601 time (e.g. 2026-11-24T22:30:00Z)'],
    ['2026-11-24 22:30:00Z', 'not an ISO 8601 time (e.g. 2026-11-24T22:30:00Z)'],
  ])('refuses %s: %s', (text, reason) => {
    expect(() => parseIsoTime(text)).toThrow(reason);
  });

  it('reads a time without an offset as local time on this machine', () => {
    expect(parseIsoTime('2026-11-24T22:30:00').getTime()).toBe(new Date(2026, 10, 24, 22, 30).getTime());
  });
});
