import { z } from 'zod';
import { BackupLevel, BackupMethod } from './policy.ts';
import { IsoTime, Name } from './names.ts';
import { DataPathTimes } from './task.ts';
import { UsageCounters } from './job-usage.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';

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
    /** Where the time went (the figures behind the bottleneck verdict); absent from older agents and records. */
    times: DataPathTimes.optional(),
    /** The agent's own S3 and DynamoDB requests so far (its totals, each report replacing the last); absent from older agents. */
    usage: UsageCounters.optional(),
  })
  .strict();
export type JobProgress = z.output<typeof JobProgress>;

/**
 * Every kind of job. `type` is the discriminant and has been stored on every
 * job record since the first one (`type: 'backup'`), so records written
 * before kinds existed are read as they are: no migration.
 * Kinds still to come: duplicate, expire, catalog-backup, inventory.
 */
export const JOB_KINDS = ['backup', 'restore', 'verify'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** What one attempt of a job ended with, kept when the job is retried (Backup Tries). */
export const JobAttempt = z
  .object({ attempt: z.number().int().positive(), statusCode: z.number().int(), error: z.string().optional(), backupId: z.string().optional(), startedAt: IsoTime.optional(), endedAt: IsoTime })
  .strict();
export type JobAttempt = z.output<typeof JobAttempt>;

const JobId = z.number().int().positive();

/**
 * One line of a job's detailed status (NetBackup's Activity Monitor "Detailed
 * Status"): what the media manager or the broker did for the job and why,
 * e.g. "volume CRN001L6 had 1 errors ... within 12 hours: frozen".
 */
export const JobDetail = z.object({ at: IsoTime, message: z.string().max(2048) }).strict();
export type JobDetail = z.output<typeof JobDetail>;

/** How many detail lines a job keeps (the newest). */
export const JOB_DETAILS_LIMIT = 100;

/** What every job has, whatever its kind (besides `jobId` and `type`, which lead each record): lifecycle, owner, progress, times. */
const jobBase = {
  state: JobState,
  statusCode: z.number().int().optional(),
  statusText: z.string().optional(),
  attempt: z.number().int().min(1).default(1),
  /** Why a QUEUED job is not running yet ("waiting for storage unit slot"). */
  waitingReason: z.string().optional(),
  /** The workflow execution running the job; a scheduled job's name makes a double start harmless. */
  executionName: z.string().optional(),
  /** Earlier attempts of this job that failed and were retried. */
  attempts: z.array(JobAttempt).default([]),
  progress: JobProgress.default({ files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }),
  error: z.string().optional(),
  /** Detailed status, oldest first, across attempts; absent on jobs with none. */
  details: z.array(JobDetail).optional(),
  /** The runtime instance running the job (standalone: `local:<host>:<pid>`), for orphan detection. */
  owner: z.string().optional(),
  queuedAt: IsoTime,
  startedAt: IsoTime.optional(),
  endedAt: IsoTime.optional(),
  updatedAt: IsoTime,
};

export const BackupJob = z
  .object({
    jobId: JobId,
    type: z.literal('backup'),
    ...jobBase,
    policy: Name,
    client: Name,
    schedule: Name,
    level: BackupLevel,
    storageUnit: Name,
    /** Resolved from the policy when queued, so a policy edit does not change a running job. */
    selections: z.array(z.string()).min(1),
    exclude: z.array(z.string()).default([]),
    /** The policy's crossMountPoints (absent: false, and on jobs queued before it existed). */
    crossMountPoints: z.boolean().optional(),
    /** The policy's backupMethod when `offhost` (absent: `file`, and on jobs queued before it existed). */
    backupMethod: BackupMethod.optional(),
    retentionDays: z.number().int().min(0),
    backupId: z.string().optional(),
    /** For an incremental: the image it is taken against (set when resources are granted). */
    baseBackupId: z.string().optional(),
    /** The start-window opening a scheduled job belongs to. */
    windowStart: IsoTime.optional(),
    /** A scheduled job's due instant: one job per (policy, client, schedule, due instant). Older jobs have none: theirs is `windowStart`. */
    dueAt: IsoTime.optional(),
    /** When the window closes: a job still queued then ends with status 196. */
    windowEnd: IsoTime.optional(),
    /** Files that could not be read (status 1); the first few, for the operator. */
    unreadable: z.array(z.string()).default([]),
    /** A tape job: every volume it was given (by Reserve, then ReserveNextVolume at each end of media), in order, over all its attempts. */
    volumes: z.array(z.string()).optional(),
    /** A stream of a multiple-data-streams job: its parent job, which writes no image and ends when every stream has (core/jobs/data-streams.ts). */
    parentJobId: JobId.optional(),
    /** A multiple-data-streams parent: its streams' jobs, in the order they were queued. */
    childJobIds: z.array(JobId).optional(),
    /**
     * A multiple-data-streams parent in the cloud runtime, advanced one
     * scheduler tick at a time (core/jobs/stream-advance.ts): its streams once
     * known, and the savefs probe sent to the client's agent for `ALL`.
     * The standalone runtime records `streams` too: each stream's image names
     * them all (core/catalog/catalog-service.ts).
     */
    streaming: z
      .object({
        streams: z.array(z.string()).min(1).optional(),
        probe: z.object({ instanceId: z.string().min(1), commandId: z.string().min(1) }).strict().optional(),
        /** When each stream's execution was started, by execution name: one that never queues its job is given up after a grace time. */
        startedAt: z.record(z.string(), IsoTime).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type BackupJob = z.output<typeof BackupJob>;

/** Where a restore writes: a directory on a client (the image's own client unless redirected). */
export const RestoreTarget = z
  .object({
    client: Name,
    directory: z.string().min(1),
    /** What to do with entries already in the directory (bprestore's overwrite / rename options). */
    existing: z.enum(['refuse', 'overwrite', 'rename']).default('refuse'),
  })
  .strict();
export type RestoreTarget = z.output<typeof RestoreTarget>;

/**
 * What a restore reads: one image, or the client's tree as it was at a point
 * in time, rebuilt from the image chain (optionally of one policy).
 */
export const RestoreSource = z.union([
  z.object({ backupId: z.string().min(1) }).strict(),
  z.object({ pointInTime: IsoTime, policy: Name.optional() }).strict(),
]);
export type RestoreSource = z.output<typeof RestoreSource>;

/**
 * One volume a tape restore reads, in the order the restore job mounts them
 * (the order of the image's fragments): the catalog's fragments on it, and
 * whether its Read step has finished.
 */
export const RestoreVolume = z
  .object({
    mediaId: z.string().min(1),
    fragments: z.array(z.number().int().positive()).min(1),
    read: z.boolean().default(false),
    /** What its Read restored, once read. */
    files: z.number().int().min(0).optional(),
    bytes: z.number().int().min(0).optional(),
  })
  .strict();
export type RestoreVolume = z.output<typeof RestoreVolume>;

/**
 * Restore a client's tree into a target. A restore of an image on tape is
 * queued by `cairn restore` and runs through restore-job.asl.json (one
 * Reserve, Mount, Read, Unmount, Release per volume); restores from disk and
 * S3 units run in the CLI's process and record no job.
 * Its image is `source`, never `backupId`: on a backup job `backupId` is
 * the image the job writes, which the janitor and retries act on.
 */
export const RestoreJob = z
  .object({
    jobId: JobId,
    type: z.literal('restore'),
    ...jobBase,
    /** The client whose images are restored. */
    client: Name,
    source: RestoreSource,
    target: RestoreTarget,
    /** Paths as backed up; empty restores everything. */
    paths: z.array(z.string()).default([]),
    continueOnError: z.boolean().default(false),
    /** The storage unit of the copy read (a tape restore's: its robot's drives are the ones reserved). */
    storageUnit: Name.optional(),
    /** The copy read when it is not the primary (`cairn restore` falling back to another copy). */
    copyNumber: z.number().int().positive().optional(),
    /** A tape restore's volumes, in mount order (set by its Plan step). */
    volumes: z.array(RestoreVolume).default([]),
    /** Members refused or not restored (status 1); the first few, for the operator. */
    notRestored: z.array(z.string()).default([]),
  })
  .strict();
export type RestoreJob = z.output<typeof RestoreJob>;

/**
 * Verify one image (bpverify): read every fragment, check every sha256 and
 * the tar structure, write nothing (core/jobs/verify-job.ts,
 * verify-job.asl.json). Like a restore's, its image is never `backupId`
 * (the image a backup job writes, which the janitor acts on): it is `image`.
 */
export const VerifyJob = z
  .object({
    jobId: JobId,
    type: z.literal('verify'),
    ...jobBase,
    /** The image's client. */
    client: Name,
    /** The image verified, and the storage unit of the copy read (the primary). */
    image: z.string().min(1),
    storageUnit: Name,
    /** A scheduled verify: the policy and schedule that queued it. */
    policy: Name.optional(),
    schedule: Name.optional(),
    /** What the verify found, first bad member first (`path (object at byte N): reason`); the first few, for the operator. */
    problems: z.array(z.string()).default([]),
    problemCount: z.number().int().min(0).default(0),
    /** A tape image's volumes, in mount order (set by its Plan step), each read in turn as a restore job's are. */
    volumes: z.array(RestoreVolume).optional(),
  })
  .strict();
export type VerifyJob = z.output<typeof VerifyJob>;

export const Job = z.discriminatedUnion('type', [BackupJob, RestoreJob, VerifyJob]);
export type Job = z.output<typeof Job>;
export type JobOfKind<K extends JobKind> = Extract<Job, { type: K }>;

/** The job if it is of kind `kind`, else undefined: for code that acts on one kind only. */
export function asKind<K extends JobKind>(job: Job | undefined, kind: K): JobOfKind<K> | undefined {
  return job?.type === kind ? (job as JobOfKind<K>) : undefined;
}

/**
 * A job as read back from a store, checked against the union: the stores
 * keep the record as written (JSON), and records of every earlier version
 * parse unchanged because `type` has always been there. A record that does
 * not parse is a store fault (status 2000), named by `where`.
 */
export function storedJob(record: unknown, where: string): Job {
  return parseOrThrow(Job, record, `job record ${where}`, StatusCode.INTERNAL_ERROR);
}

/**
 * The id of the image the job writes (claimed in the catalog), if it writes
 * one. The janitor and cancel act on it; a restore reads images and writes none.
 */
export function imageWrittenBy(job: Job): string | undefined {
  return job.type === 'backup' ? job.backupId : undefined;
}
