import { describe, expect, it } from 'vitest';
import { driveErrorDecision, mediaErrorDecision } from '#core/media/error-policy.ts';
import { Settings } from '#core/settings.ts';
import type { MediaErrorEntry } from '#core/model/tape-media.ts';

const now = new Date('2026-11-01T12:00:00Z');
const hoursAgo = (h: number): string => new Date(now.getTime() - h * 3_600_000).toISOString();
const error = (h: number, kind: MediaErrorEntry['kind'] = 'write'): MediaErrorEntry => ({ at: hoursAgo(h), kind, message: 'EIO' });
const { mediaErrorFreeze, driveErrorDown } = Settings.parse({});

describe('media error policy', () => {
  it('defaults to 3 errors in 12 hours for volumes and drives', () => {
    expect(mediaErrorFreeze).toEqual({ errors: 3, withinHours: 12 });
    expect(driveErrorDown).toEqual({ errors: 3, withinHours: 12 });
  });

  it('freezes a volume at the third error within the window, naming the kinds', () => {
    const decision = mediaErrorDecision({ mediaId: 'A00001', state: 'ACTIVE', errors: [error(11), error(5, 'read'), error(0, 'position')] }, mediaErrorFreeze, now);
    expect(decision).toEqual({ action: 'freeze', reason: 'volume A00001 had 3 errors (1 write, 1 read, 1 position) within 12 hours (threshold 3): frozen' });
  });

  it('does not count errors older than the window', () => {
    const decision = mediaErrorDecision({ mediaId: 'A00001', state: 'ACTIVE', errors: [error(13), error(12.5), error(1), error(0)] }, mediaErrorFreeze, now);
    expect(decision).toEqual({ action: 'none', reason: 'volume A00001 had 2 of 3 errors within 12 hours' });
  });

  it('follows the configured threshold', () => {
    expect(mediaErrorDecision({ mediaId: 'A00001', state: 'FULL', errors: [error(1)] }, { errors: 1, withinHours: 2 }, now).action).toBe('freeze');
  });

  it('leaves a frozen or suspended volume as it is', () => {
    const errors = [error(1), error(2), error(3)];
    expect(mediaErrorDecision({ mediaId: 'A00001', state: 'FROZEN', errors }, mediaErrorFreeze, now)).toEqual({ action: 'none', reason: 'volume A00001 is FROZEN already' });
    expect(mediaErrorDecision({ mediaId: 'A00001', state: 'SUSPENDED', errors }, mediaErrorFreeze, now).action).toBe('none');
  });

  it('takes a drive DOWN at the threshold, and leaves a DOWN drive alone', () => {
    const errors = [error(3), error(2), error(1)];
    expect(driveErrorDecision({ name: 'd1', state: 'UP', errors }, driveErrorDown, now)).toEqual({ action: 'down', reason: 'drive d1 had 3 errors (3 write) within 12 hours (threshold 3): DOWN' });
    expect(driveErrorDecision({ name: 'd1', state: 'UP', errors: errors.slice(1) }, driveErrorDown, now)).toEqual({ action: 'none', reason: 'drive d1 had 2 of 3 errors within 12 hours' });
    expect(driveErrorDecision({ name: 'd1', state: 'DOWN', errors }, driveErrorDown, now).action).toBe('none');
  });

  it('ignores entries stamped after now (a clock ahead elsewhere)', () => {
    expect(driveErrorDecision({ name: 'd1', state: 'UP', errors: [error(-1), error(-2), error(1)] }, driveErrorDown, now).action).toBe('none');
  });
});
