import { z } from 'zod';
import { BackupLevel } from './policy.ts';
import { IsoTime, Name } from './names.ts';

export const JobState = z.enum(['QUEUED', 'ACTIVE', 'DONE']);
export type JobState = z.output<typeof JobState>;

export const JobProgress = z
  .object({
    files: z.number().int().min(0).default(0),
    bytes: z.number().int().min(0).default(0),
    /** Bytes per second over the active part of the job. */
    throughputBps: z.number().min(0).default(0),
    /** How often the writer waited for a full buffer: the client (reader) is the bottleneck. */
    writerWaits: z.number().int().min(0).default(0),
    /** How often the reader waited for an empty buffer: the media (writer) is the bottleneck. */
    readerWaits: z.number().int().min(0).default(0),
    currentPath: z.string().optional(),
  })
  .strict();
export type JobProgress = z.output<typeof JobProgress>;

export const Job = z
  .object({
    jobId: z.number().int().positive(),
    type: z.enum(['backup']),
    state: JobState,
    statusCode: z.number().int().optional(),
    statusText: z.string().optional(),
    attempt: z.number().int().min(1).default(1),
    /** Why a QUEUED job is not running yet ("waiting for storage unit slot"). */
    waitingReason: z.string().optional(),
    policy: Name,
    client: Name,
    schedule: Name,
    level: BackupLevel,
    storageUnit: Name,
    /** Resolved from the policy when queued, so a policy edit does not change a running job. */
    selections: z.array(z.string()).min(1),
    exclude: z.array(z.string()).default([]),
    retentionDays: z.number().int().min(0),
    backupId: z.string().optional(),
    /** For an incremental: the image it is taken against (set when resources are granted). */
    baseBackupId: z.string().optional(),
    executionName: z.string().optional(),
    /** The start-window opening a scheduled job starts in. */
    windowStart: IsoTime.optional(),
    /** A scheduled job's due instant: one job per (policy, client, schedule, due instant). Older jobs have none: theirs is `windowStart`. */
    dueAt: IsoTime.optional(),
    /** When the window closes: a job still queued then ends with status 196. */
    windowEnd: IsoTime.optional(),
    /** Earlier attempts of this job that failed and were retried (Backup Tries). */
    attempts: z
      .array(z.object({ attempt: z.number().int().positive(), statusCode: z.number().int(), error: z.string().optional(), backupId: z.string().optional(), startedAt: IsoTime.optional(), endedAt: IsoTime }).strict())
      .default([]),
    progress: JobProgress.default({ files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }),
    /** Files that could not be read (status 1); the first few, for the operator. */
    unreadable: z.array(z.string()).default([]),
    error: z.string().optional(),
    /** The runtime instance running the job (standalone: `local:<host>:<pid>`), for orphan detection. */
    owner: z.string().optional(),
    queuedAt: IsoTime,
    startedAt: IsoTime.optional(),
    endedAt: IsoTime.optional(),
    updatedAt: IsoTime,
  })
  .strict();
export type Job = z.output<typeof Job>;
