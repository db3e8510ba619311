import type { VerifyJob } from '../model/job.ts';

/** What a verify or a rehearsal decides about its new job; everything else starts as every verify-kind job does. */
export type VerifyJobFields = Pick<VerifyJob, 'client' | 'image' | 'storageUnit'> & Partial<Pick<VerifyJob, 'policy' | 'schedule' | 'owner' | 'executionName' | 'rehearsal'>>;

/** A QUEUED verify-kind job (a verify, or a restore rehearsal: verify-job.ts, rehearsal.ts), no progress or problems yet. */
export function queuedVerifyJob(jobId: number, now: Date, fields: VerifyJobFields): VerifyJob {
  const at = now.toISOString();
  return {
    jobId,
    type: 'verify',
    state: 'QUEUED',
    attempt: 1,
    ...fields,
    problems: [],
    problemCount: 0,
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    queuedAt: at,
    updatedAt: at,
  };
}
