import type { Drive, Media, MediaErrorEntry } from '../model/tape-media.ts';

/** N errors within a window: the settings `mediaErrorFreeze` and `driveErrorDown` (core/settings.ts; 3 in 12 hours by default). */
export interface ErrorThreshold {
  errors: number;
  withinHours: number;
}

export type ErrorDecision<Action extends string> = { action: Action; reason: string } | { action: 'none'; reason: string };

/** The entries of `errors` in the window that ends at `now` (inclusive of both ends). */
function inWindow(errors: readonly MediaErrorEntry[], threshold: ErrorThreshold, now: Date): MediaErrorEntry[] {
  const since = now.getTime() - threshold.withinHours * 3_600_000;
  return errors.filter((e) => {
    const at = new Date(e.at).getTime();
    return at >= since && at <= now.getTime();
  });
}

function counted(entries: readonly MediaErrorEntry[]): string {
  const kinds = new Map<string, number>();
  for (const e of entries) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
  return [...kinds].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

/**
 * Whether a volume's errors freeze it (NetBackup's media error threshold):
 * `threshold.errors` errors of any kind (write, read, position) within
 * `threshold.withinHours` hours up to `now`. A volume FROZEN already, or
 * SUSPENDED (held by an operator), is left as it is.
 */
export function mediaErrorDecision(media: Pick<Media, 'mediaId' | 'state' | 'errors'>, threshold: ErrorThreshold, now: Date): ErrorDecision<'freeze'> {
  if (media.state === 'FROZEN') return { action: 'none', reason: `volume ${media.mediaId} is FROZEN already` };
  if (media.state === 'SUSPENDED') return { action: 'none', reason: `volume ${media.mediaId} is SUSPENDED: an operator holds it` };
  const recent = inWindow(media.errors, threshold, now);
  if (recent.length >= threshold.errors) {
    return { action: 'freeze', reason: `volume ${media.mediaId} had ${recent.length} errors (${counted(recent)}) within ${threshold.withinHours} hours (threshold ${threshold.errors}): frozen` };
  }
  return { action: 'none', reason: `volume ${media.mediaId} had ${recent.length} of ${threshold.errors} errors within ${threshold.withinHours} hours` };
}

/**
 * Whether a drive's errors take it DOWN: `threshold.errors` errors within
 * `threshold.withinHours` hours up to `now`, counting only errors since the
 * last reset (`cairn drive reset` empties the history). A DOWN drive stays
 * as it is.
 */
export function driveErrorDecision(drive: Pick<Drive, 'name' | 'state' | 'errors'>, threshold: ErrorThreshold, now: Date): ErrorDecision<'down'> {
  if (drive.state === 'DOWN') return { action: 'none', reason: `drive ${drive.name} is DOWN already` };
  const recent = inWindow(drive.errors, threshold, now);
  if (recent.length >= threshold.errors) {
    return { action: 'down', reason: `drive ${drive.name} had ${recent.length} errors (${counted(recent)}) within ${threshold.withinHours} hours (threshold ${threshold.errors}): DOWN` };
  }
  return { action: 'none', reason: `drive ${drive.name} had ${recent.length} of ${threshold.errors} errors within ${threshold.withinHours} hours` };
}
