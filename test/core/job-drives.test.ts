import { describe, expect, it } from 'vitest';
import { withDrive } from '#core/jobs/job-drives.ts';

describe("a job's drives", () => {
  it('lists each drive once, in the order the job was first given it; a drive given again changes nothing', () => {
    const first = withDrive(undefined, 'd1');
    expect(first).toEqual(['d1']);
    const second = withDrive(first, 'd0');
    expect(second).toEqual(['d1', 'd0']);
    // A retried step or the next volume in the same drive: the same list, so nothing new is written.
    expect(withDrive(second, 'd1')).toBe(second);
  });
});
