import { describe, expect, it } from 'vitest';
import { bottleneckOf, MIN_BYTES, MIN_ELAPSED_MS, type BottleneckInput } from '#core/jobs/bottleneck.ts';
import { JobProgress } from '#core/model/job.ts';
import { BackupTaskResult, type DataPathTimes } from '#core/model/task.ts';

const GiB = 1024 ** 3;

/** A 100 s job of 1 GiB where nothing waited and the main thread was half busy: balanced unless a test says otherwise. */
function job(times: Partial<DataPathTimes>, counts: Partial<Omit<BottleneckInput, 'times'>> = {}): BottleneckInput {
  return {
    bytes: GiB,
    writerWaits: 10,
    readerWaits: 10,
    ...counts,
    times: { elapsedMs: 100_000, readMs: 60_000, writeMs: 60_000, hashMs: 20_000, readerWaitMs: 0, writerWaitMs: 0, mainThreadMs: 50_000, ...times },
  };
}

describe('the bottleneck verdict', () => {
  it('calls a job reader-bound when the writer waited long for full buffers, with the figures behind it', () => {
    // Prepare: NetBackup's "waited for full buffer" on the media side, 41 s of a 100 s job.
    const input = job({ readMs: 82_000, writerWaitMs: 41_000, readerWaitMs: 1_000 }, { writerWaits: 1912, readerWaits: 3 });

    // Act
    const result = bottleneckOf(input);

    // Assess
    expect(result.verdict).toBe('reader-bound');
    expect(result.label).toBe('reader-bound (client disk or snapshot)');
    expect(result.because).toBe('reader busy 82% of the job, writer waited for a full buffer 1,912 times (41 s, 41%)');
    expect(result.figures).toBe('over 100 s: reader busy 82%, writer busy 60%, hashing 20%, main thread busy 50%; writer waited for a full buffer 1,912 times (41 s, 41%), reader waited for an empty buffer 3 times (1.0 s, 1%)');
    expect(result.shares).toEqual({ read: 0.82, write: 0.6, hash: 0.2, mainThread: 0.5, readerWait: 0.01, writerWait: 0.41 });
  });

  it('calls a job writer-bound when the reader waited long for empty buffers', () => {
    const result = bottleneckOf(job({ writeMs: 90_000, readerWaitMs: 30_000, writerWaitMs: 2_000 }, { readerWaits: 5000 }));

    expect(result.verdict).toBe('writer-bound');
    expect(result.label).toBe('writer-bound (storage)');
    expect(result.because).toBe('writer busy 90% of the job, reader waited for an empty buffer 5,000 times (30 s, 30%)');
  });

  it('calls a job CPU-bound when the main thread was nearly never idle, whatever the waits', () => {
    const result = bottleneckOf(job({ mainThreadMs: 93_000, hashMs: 42_000, writerWaitMs: 40_000 }));

    expect(result.verdict).toBe('cpu-bound');
    expect(result.label).toBe('CPU-bound (hashing/compression)');
    expect(result.because).toBe('main thread busy 93% of the job, hashing 42% (42 s)');
  });

  it('calls a job CPU-bound when hashing alone took half of it', () => {
    expect(bottleneckOf(job({ hashMs: 50_000, mainThreadMs: 60_000 })).verdict).toBe('cpu-bound');
    expect(bottleneckOf(job({ hashMs: 49_999, mainThreadMs: 60_000 })).verdict).toBe('balanced');
  });

  it('calls a job balanced when neither side waited long', () => {
    const result = bottleneckOf(job({ readerWaitMs: 10_000, writerWaitMs: 12_000 }));

    expect(result.verdict).toBe('balanced');
    expect(result.because).toBe('writer waited 12% of the job, reader 10%: neither 25% and twice the other');
  });

  it('calls a job balanced when both sides waited long and neither twice as long as the other', () => {
    expect(bottleneckOf(job({ readerWaitMs: 30_000, writerWaitMs: 59_999 })).verdict).toBe('balanced');
    expect(bottleneckOf(job({ readerWaitMs: 30_000, writerWaitMs: 60_000 })).verdict).toBe('reader-bound');
  });

  it('decides a figure exactly at a threshold the same way every time', () => {
    // A wait of exactly 25% counts; one millisecond less does not.
    expect(bottleneckOf(job({ writerWaitMs: 25_000 })).verdict).toBe('reader-bound');
    expect(bottleneckOf(job({ writerWaitMs: 24_999 })).verdict).toBe('balanced');
    expect(bottleneckOf(job({ readerWaitMs: 25_000 })).verdict).toBe('writer-bound');
    // A main thread busy exactly 85% is CPU-bound; 84.999% is not.
    expect(bottleneckOf(job({ mainThreadMs: 85_000, writerWaitMs: 30_000 })).verdict).toBe('cpu-bound');
    expect(bottleneckOf(job({ mainThreadMs: 84_999, writerWaitMs: 30_000 })).verdict).toBe('reader-bound');
  });

  it('weighs wait times, not counts: many short waits do not make a bound', () => {
    expect(bottleneckOf(job({ writerWaitMs: 500 }, { writerWaits: 100_000 })).verdict).toBe('balanced');
  });

  it('will not judge a job under a second or a few MiB', () => {
    const short = bottleneckOf(job({ elapsedMs: MIN_ELAPSED_MS - 1, writerWaitMs: 900 }));
    const small = bottleneckOf(job({ writerWaitMs: 90_000 }, { bytes: MIN_BYTES - 1 }));
    const empty = bottleneckOf(job({ elapsedMs: 0, readMs: 0, writeMs: 0, hashMs: 0, mainThreadMs: 0 }, { bytes: 0 }));

    expect(short.verdict).toBe('too-short');
    expect(short.label).toBe('too short to tell');
    expect(short.because).toBe('999 ms and 1024.0 MiB: a job under 1.0 s or 8.0 MiB is mostly start-up and the final sync');
    expect(small.verdict).toBe('too-short');
    expect(empty.verdict).toBe('too-short');
    expect(empty.shares).toEqual({ read: 0, write: 0, hash: 0, mainThread: 0, readerWait: 0, writerWait: 0 });
    // Exactly one second and 8 MiB is long enough.
    expect(bottleneckOf(job({ elapsedMs: MIN_ELAPSED_MS, readMs: 0, writeMs: 0, hashMs: 0, mainThreadMs: 0, writerWaitMs: 500 }, { bytes: MIN_BYTES })).verdict).toBe('reader-bound');
  });

  it('says a job is not measured when its agent recorded no timings, and still gives the counts', () => {
    const result = bottleneckOf({ bytes: GiB, writerWaits: 7, readerWaits: 1234 });

    expect(result.verdict).toBe('unmeasured');
    expect(result.because).toBe('the agent that ran this job recorded no timings');
    expect(result.figures).toBe('writer waited for a full buffer 7 times, reader waited for an empty buffer 1,234 times');
    expect(result.shares).toBeUndefined();
  });
});

describe('the timings on job records and agent results', () => {
  it('are optional, so records and results from before them still read', () => {
    expect(JobProgress.parse({ files: 1, bytes: 2, throughputBps: 3, writerWaits: 4, readerWaits: 5 }).times).toBeUndefined();
    const result = { backupId: 'c_1', statusCode: 0, fragments: [], fileCount: 0, bytes: 0, indexKey: 'k', indexSha256: 's', manifestKey: 'm', unreadable: [], unreadableCount: 0, writerWaits: 0, readerWaits: 0, elapsedMs: 1 };
    expect(BackupTaskResult.parse(result).times).toBeUndefined();
  });

  it('refuse a figure that is not a whole number of milliseconds', () => {
    const times = { elapsedMs: 1000, readMs: 1.5, writeMs: 0, hashMs: 0, readerWaitMs: 0, writerWaitMs: 0, mainThreadMs: 0 };
    expect(JobProgress.safeParse({ times }).success).toBe(false);
    expect(JobProgress.safeParse({ times: { ...times, readMs: 1 } }).success).toBe(true);
  });
});
