import { describe, expect, it } from 'vitest';
import { Duration } from '#core/model/durations.ts';

describe('policy durations', () => {
  it.each([
    ['8h', 28_800],
    ['1h30m', 5_400],
    ['2w', 1_209_600],
    [3600, 3600],
  ] as const)('reads %s as %i seconds', (input, seconds) => {
    expect(Duration.parse(input)).toBe(seconds);
  });

  it.each([
    ['-1h', '-1h: a duration must be positive'],
    [-3600, '-3600: a duration must be positive'],
    ['0h', '0h: a duration must be positive'],
    [3600.5, '3600.5: whole seconds only (or text such as 90m)'],
    ['1.5h', '1.5h: each unit takes a whole number (1h30m, not 1.5h)'],
    ['eight hours', 'eight hours: a duration like 8h, 90m, 1h30m, 7d or 2w, or whole seconds'],
    ['99999999999999999999w', '99999999999999999999w: too long for a duration'],
    [true, 'a duration like 8h, 90m, 1h30m, 7d or 2w, or whole seconds'],
  ] as const)('refuses %s with the rule it breaks', (input, message) => {
    const result = Duration.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([message]);
  });
});
