import { z } from 'zod';

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;

/**
 * A duration as administrators write it in a policy file: `90m`, `8h`,
 * `1h30m`, `7d`, `2w`, or a number of seconds. Parsed to seconds.
 */
export const Duration = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^(\d+[wdhms])+$/, 'a duration like 8h, 90m, 1h30m, 7d or 2w')
    .transform((text) => [...text.matchAll(/(\d+)([wdhms])/g)].reduce((total, [, n, unit]) => total + Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS], 0))
    .pipe(z.number().int().positive('a duration must be longer than zero')),
]);

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
