import { z } from 'zod';
import { BackupLevel, BackupMethod, RehearsalSample } from './policy.ts';
import { IsoTime, Name } from './names.ts';
import { DataPathTimes } from './task.ts';
import { UsageCounters } from './job-usage.ts';
import { PieceCarry } from './verify-task.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
// The throughput series' point lives in its own module: tape-task.ts carries a series too, and this module imports it (through verify-task.ts).
import { MAX_THROUGHPUT_SAMPLES, ThroughputSample } from './throughput-sample.ts';
export { MAX_THROUGHPUT_SAMPLES, ThroughputSample } from './throughput-sample.ts';

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
    /** Throughput over time, oldest first (the agent's whole series with each report, replacing the last); absent from older agents and from kinds that do not report one. */
    samples: z.array(ThroughputSample).max(MAX_THROUGHPUT_SAMPLES).optional(),
  })
  .strict();
export type JobProgress = z.output<typeof JobProgress>;

/**
 * Every kind of job. `type` is the discriminant and has been stored on every
 * job record since the first one (`type: 'backup'`), so records written
 * before kinds existed are read as they are: no migration.
 * The lifecycle kinds (duplicate, image-cleanup, catalog-backup,
 * catalog-check) run in the process that starts them, with no workflow
 * execution (core/jobs/lifecycle-job.ts). Kind still to come: inventory.
 */
export const JOB_KINDS = ['backup', 'restore', 'verify', 'duplicate', 'image-cleanup', 'catalog-backup', 'catalog-check'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
/** The kinds that run in one process as one operation, with no workflow execution (core/jobs/lifecycle-job.ts). */
export const LIFECYCLE_JOB_KINDS = ['duplicate', 'image-cleanup', 'catalog-backup', 'catalog-check'] as const satisfies readonly JobKind[];
export type LifecycleJobKind = (typeof LIFECYCLE_JOB_KINDS)[number];

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
  /**
   * A tape job (a backup to a tape unit, a restore or verify of a tape image,
   * a duplicate to or from tape): the drives it was given, by name, in the
   * order it was first given each, over all its attempts (core/jobs/job-drives.ts).
   * Absent on jobs that used none and on records written before it existed.
   */
  drives: z.array(z.string().min(1)).optional(),
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
     * Set on an ended job when it is restarted (`cairn jobs restart`, the
     * monitor's Restart): the new job's id, or 0 while it is being queued. A
     * compare-and-swap sets it before anything is queued, so two restarts at
     * once (a double click, two operators) run one new job; a second restart
     * is refused naming this one (restart the new job instead).
     */
    restartedAs: z.number().int().min(0).optional(),
    /**
     * When the claim (`restartedAs: 0`) was taken. A claim older than
     * RESTART_CLAIM_MS (core/jobs/restart-job.ts) is one whose process died
     * between the claim and the queue: it no longer refuses a restart.
     */
    restartClaimedAt: IsoTime.optional(),
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
 * S3 units run in the CLI's process and record no job, except those started
 * from the activity monitor, which run as a restore job in its process
 * (cli/recorded-restore.ts).
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
    /** The copy read when it is not the primary (`cairn restore` falling back to another copy, or the job's own fallback). */
    copyNumber: z.number().int().positive().optional(),
    /**
     * The further copies on tape the job falls back to, in order, when the
     * copy it reads fails with its data, media or unit (COPY_FAILURES):
     * set at Queue for a restore of the primary, taken one by one.
     */
    fallbackCopies: z.array(z.number().int().positive()).optional(),
    /** A tape restore's volumes, in mount order (set by its Plan step). */
    volumes: z.array(RestoreVolume).default([]),
    /** Members refused or not restored (status 1); the first few, for the operator. */
    notRestored: z.array(z.string()).default([]),
  })
  .strict();
export type RestoreJob = z.output<typeof RestoreJob>;

/**
 * What a restore rehearsal's job keeps: what it was asked (`sample`,
 * `scratch`), the images its point-in-time view restored from, and once
 * the agent answered, what it checked, where it restored to and whether
 * that directory was removed. Mismatches are the verify job's `problems`.
 */
export const RehearsalRecord = z
  .object({
    sample: RehearsalSample,
    /** The scratch directory asked for (absent: the agent's default). */
    scratch: z.string().min(1).optional(),
    /** The final image(s) of the point-in-time view, newest first. */
    images: z.array(z.string().min(1)).default([]),
    /** Every image a file was restored from (earlier images of an incremental's unchanged files included). */
    restoredFrom: z.array(z.string().min(1)).optional(),
    /** Regular files chosen, and how many were compared with the index. */
    sampleSize: z.number().int().min(0).optional(),
    filesChecked: z.number().int().min(0).optional(),
    bytes: z.number().int().min(0).optional(),
    /** The directory the sample was restored into, and whether it is gone. */
    scratchPath: z.string().optional(),
    scratchDeleted: z.boolean().optional(),
    /** Why the directory could not be removed (what remains, for the operator). */
    scratchProblem: z.string().optional(),
  })
  .strict();
export type RehearsalRecord = z.output<typeof RehearsalRecord>;

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
    /** A tape image's pieced file that runs from volume `afterVolume` (0-based) onto the next: its hash so far, for that volume's Read (verify-task.ts PieceCarry). */
    carry: PieceCarry.extend({ afterVolume: z.number().int().min(0) }).strict().optional(),
    /** A restore rehearsal (core/jobs/rehearsal.ts): a sample restored into scratch and compared; mismatches are `problems`. */
    rehearsal: RehearsalRecord.optional(),
  })
  .strict();
export type VerifyJob = z.output<typeof VerifyJob>;

/**
 * One copy of an image made by `cairn duplicate` or a policy's `copies`
 * (bpduplicate; NetBackup's Activity Monitor shows a Duplication job). The
 * data moves in the process that runs it (edge-agent/duplicate/), or, for
 * the cloud scheduler's policy copies, on the client's agent in the
 * duplicate-job workflow (core/jobs/duplicate-job.ts; such a job has an
 * `executionName`); the job records it. Its image is `image`, never `backupId` (which the janitor
 * acts on as the image a backup job writes). Bytes and objects copied are
 * in `progress` (bytes, files).
 */
export const DuplicateJob = z
  .object({
    jobId: JobId,
    type: z.literal('duplicate'),
    ...jobBase,
    /** The image's client. */
    client: Name,
    image: z.string().min(1),
    /** The unit the new copy goes to. */
    storageUnit: Name,
    /** The copy read (absent: the primary, until the job has started), and its unit. */
    fromCopy: z.number().int().positive().optional(),
    fromStorageUnit: Name.optional(),
    /** The number the new copy was catalogued as (set when the job ends). */
    copyNumber: z.number().int().positive().optional(),
    /** The image had that copy already (an earlier or concurrent run catalogued it): nothing was catalogued. */
    alreadyPresent: z.boolean().optional(),
    /** The new copy's own retention end, as asked (a policy copy's); absent: it follows the image's. */
    expiresAt: IsoTime.optional(),
    /** A scheduled copy: the policy whose `copies` declared it. */
    policy: Name.optional(),
  })
  .strict();
export type DuplicateJob = z.output<typeof DuplicateJob>;

/**
 * One run of the image cleanup (nbdelete; NetBackup's Image Cleanup job):
 * a scheduler tick's that expired, recycled or failed something, or one
 * `cairn images expire`. Counts and the first few names, for the operator.
 */
export const ImageCleanupJob = z
  .object({
    jobId: JobId,
    type: z.literal('image-cleanup'),
    ...jobBase,
    /** The catalog's own jobs name the catalog as their client (CATALOG_CLIENT, as the catalog image does), as NetBackup shows the master server. */
    client: Name,
    /** What ran it: a scheduler tick's cleanup, or `cairn images expire`. */
    trigger: z.enum(['tick', 'command']),
    /** Images expired, the first few, and how many in all. */
    expired: z.array(z.string()).default([]),
    expiredCount: z.number().int().min(0).default(0),
    /** Images past their retention kept because another image needs them (an incremental's base). */
    keptCount: z.number().int().min(0).default(0),
    /** Expirable images left for the next run (the per-tick bound). */
    deferred: z.number().int().min(0).default(0),
    /** Volumes returned to scratch. */
    recycledVolumes: z.array(z.string()).default([]),
    problems: z.array(z.string()).default([]),
    problemCount: z.number().int().min(0).default(0),
  })
  .strict();
export type ImageCleanupJob = z.output<typeof ImageCleanupJob>;

/**
 * A catalog backup (NetBackup's Catalog Backup job, NetWorker's bootstrap):
 * the whole catalog written as an image on a disk or S3 unit, and the DR
 * file that finds it. `image` is the catalog image, set when its id is
 * claimed, so the janitor finds what a killed run claimed (imageWrittenBy).
 */
export const CatalogBackupJob = z
  .object({
    jobId: JobId,
    type: z.literal('catalog-backup'),
    ...jobBase,
    /** The catalog's own jobs name the catalog as their client (CATALOG_CLIENT, as the catalog image does), as NetBackup shows the master server. */
    client: Name,
    storageUnit: Name,
    image: z.string().min(1).optional(),
    /** Where the disaster-recovery file was written (on the machine that ran the job; the cloud scheduler's: an S3 key on the unit). */
    drFile: z.string().optional(),
    /** A scheduled catalog backup: the policy whose `catalogBackup` was due. */
    policy: Name.optional(),
  })
  .strict();
export type CatalogBackupJob = z.output<typeof CatalogBackupJob>;

/**
 * A catalog check (nsrck, bpdbm -consistency): what the catalog, the jobs,
 * the reservations, the media manager and the storage units disagree about
 * (core/catalog/catalog-check.ts), and with `repair` what was done.
 */
export const CatalogCheckJob = z
  .object({
    jobId: JobId,
    type: z.literal('catalog-check'),
    ...jobBase,
    /** The catalog's own jobs name the catalog as their client (CATALOG_CLIENT, as the catalog image does), as NetBackup shows the master server. */
    client: Name,
    repair: z.boolean(),
    /** A scheduled check: the policy whose `catalogCheck` was due. */
    policy: Name.optional(),
    /** Findings by kind (orphan-object: 3, ...). */
    findings: z.record(z.string(), z.number().int().min(0)).default({}),
    /** Changes the repair made, and findings left unrepaired. */
    repairs: z.number().int().min(0).default(0),
    unrepaired: z.number().int().min(0).default(0),
    /** The first few findings and problems, for the operator. */
    problems: z.array(z.string()).default([]),
  })
  .strict();
export type CatalogCheckJob = z.output<typeof CatalogCheckJob>;

export const Job = z.discriminatedUnion('type', [BackupJob, RestoreJob, VerifyJob, DuplicateJob, ImageCleanupJob, CatalogBackupJob, CatalogCheckJob]);
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
 * A catalog backup writes the catalog image; a duplicate writes a copy of an
 * image that exists already, which no janitor may withdraw.
 */
export function imageWrittenBy(job: Job): string | undefined {
  if (job.type === 'catalog-backup') return job.image;
  return job.type === 'backup' ? job.backupId : undefined;
}
