import { describe, expect, it } from 'vitest';
import { rehearsalOutcome, restoreCopy } from '#core/jobs/rehearsal.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { sampleImage } from '../contracts/fixtures.ts';

function job(overrides: Partial<VerifyJob> = {}): VerifyJob {
  const at = '2026-11-03T02:10:00Z';
  return { jobId: 7, type: 'verify', state: 'ACTIVE', attempt: 1, client: 'c1', image: 'c1_1700000000', storageUnit: 'disk1', problems: [], problemCount: 0, attempts: [], progress: { files: 3, bytes: 10, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, rehearsal: { sample: 3, images: ['c1_1700000000'], filesChecked: 3, scratchPath: '/s/cairn-rehearsal-7-1-x', scratchDeleted: true }, queuedAt: at, updatedAt: at, ...overrides };
}

describe('rehearsal outcome', () => {
  it('is 0 when every file matched and the scratch is gone', () => {
    expect(rehearsalOutcome({ job: job() })).toEqual({ statusCode: 0 });
  });

  it('is 2001 naming the first mismatch and the count', () => {
    const outcome = rehearsalOutcome({ job: job({ problemCount: 2, problems: ['/etc/a: restored with 3 bytes, the index says 4', '/etc/b: x'] }) });
    expect(outcome).toEqual({ failure: { Error: 'Status2001', Cause: 'rehearsal of image c1_1700000000: 2 of 3 file(s) restored do not match the index: /etc/a: restored with 3 bytes, the index says 4' } });
  });

  it('keeps a failed restore\'s own status', () => {
    expect(rehearsalOutcome({ job: job(), restoreFailure: { statusCode: 85, message: 'fragment 1 cannot be read' } })).toEqual({ failure: { Error: 'Status85', Cause: 'rehearsal of image c1_1700000000: the restore failed: fragment 1 cannot be read' } });
  });

  it('is 1 when every file matched but the scratch directory could not be removed, naming it and why', () => {
    const outcome = rehearsalOutcome({ job: job({ rehearsal: { sample: 3, images: [], filesChecked: 3, scratchPath: '/s/cairn-rehearsal-7-1-x', scratchDeleted: false, scratchProblem: 'EBUSY: resource busy' } }) });
    expect(outcome).toEqual({ failure: { Error: 'Status1', Cause: 'rehearsal of image c1_1700000000: every file matched; the scratch directory /s/cairn-rehearsal-7-1-x could not be removed: EBUSY: resource busy' } });
  });

  it('reads the first copy neither on tape nor marked broken', () => {
    const image = sampleImage('c1', new Date('2026-11-01T00:00:00Z'));
    const disk = image.copies[0]!;
    const tape = { ...disk, copyNumber: 2, storageUnit: 'tape1', fragments: disk.fragments.map((f) => ({ ...f, location: { kind: 'tape' as const, mediaId: 'CRN001', fileNumber: 1, blockOffset: 2 } })) };
    const second = { ...disk, copyNumber: 3, storageUnit: 'disk2' };
    expect(restoreCopy({ ...image, copies: [tape, disk] })).toBe(disk);
    expect(restoreCopy({ ...image, copies: [disk, second], broken: { copies: [1], reasons: ['missing'], at: '2026-11-02T00:00:00Z' } } as never)).toBe(second);
    expect(restoreCopy({ ...image, copies: [tape] })).toBeUndefined();
  });
});
