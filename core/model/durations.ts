import { z } from 'zod';

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const TEXT = /^(\d+[wdhms])+$/;
const FORMS = 'a duration like 8h, 90m, 1h30m, 7d or 2w, or whole seconds';

/**
 * Seconds from a duration as written in a policy file, or why it is not one.
 * Each rule has its own reason, so `frequency: -1h` is answered with "must be
 * positive" rather than with the list of forms it does not match.
 */
export function durationSeconds(value: number | string): number | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return FORMS;
    if (!Number.isInteger(value)) return 'whole seconds only (or text such as 90m)';
    if (value <= 0) return 'a duration must be positive';
    return Number.isSafeInteger(value) ? value : 'too long for a duration';
  }
  if (/^-\s*(\d+[wdhms])+$/.test(value) || /^-\d+$/.test(value)) return 'a duration must be positive';
  if (/^[\d.]+[wdhms]/.test(value) && value.includes('.')) return 'each unit takes a whole number (1h30m, not 1.5h)';
  if (!TEXT.test(value)) return FORMS;
  const seconds = [...value.matchAll(/(\d+)([wdhms])/g)].reduce((total, [, n, unit]) => total + Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS], 0);
  if (seconds === 0) return 'a duration must be positive';
  return Number.isSafeInteger(seconds) ? seconds : 'too long for a duration';
}

/**
 * A duration as administrators write it in a policy file: `90m`, `8h`,
 * `1h30m`, `7d`, `2w`, or a whole number of seconds. Parsed to seconds. A
 * problem is reported as `<value>: <rule>` (`-1h: a duration must be positive`,
 * `3600.5: whole seconds only ...`) under the field's path.
 */
export const Duration = z.union([z.number(), z.string()], { error: FORMS }).transform((value, ctx) => {
  const seconds = durationSeconds(value);
  if (typeof seconds === 'number') return seconds;
  ctx.addIssue({ code: 'custom', message: `${value}: ${seconds}`, input: value });
  return z.NEVER;
});

/** Seconds back to the shortest text form (`86400` → `1d`), for display. */
export function formatDuration(seconds: number): string {
  let rest = seconds;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out || '0s';
}
