import { z } from 'zod';
import { BackupLevel } from '../model/policy.ts';
import { IsoTime } from '../model/names.ts';
import { JobState } from '../model/job.ts';

/**
 * The completion report's JSON (savegrp's completion report, NetBackup's
 * job summary), as `cairn report --json` prints it, the standalone service
 * writes it under $CAIRN_HOME/reports/, a webhook receives it and the cloud
 * report function publishes it. `format` and `version` lead the document so
 * a consumer can refuse what it does not know; a change that removes or
 * retypes a field is a new version, an added optional field is not.
 */
export const REPORT_FORMAT = 'cairn-report';
export const REPORT_VERSION = 1;

/** How a job came out: the report lists failures first, then partial successes, then successes, then jobs still running. */
export const ReportOutcome = z.enum(['failed', 'partial', 'success', 'running']);
export type ReportOutcome = z.output<typeof ReportOutcome>;

const count = z.number().int().min(0);

/** One job of the report. */
const lineFields = {
  jobId: z.number().int().positive(),
  /** The job's kind: `backup`, `restore`, ... */
  kind: z.string().min(1),
  client: z.string().min(1),
  /** Backups: the policy, schedule and level they ran under. */
  policy: z.string().optional(),
  schedule: z.string().optional(),
  level: BackupLevel.optional(),
  state: JobState,
  outcome: ReportOutcome,
  /** Set once the job ended (core/status-codes.ts), with its text. */
  statusCode: z.number().int().optional(),
  statusText: z.string().optional(),
  /** Why a job failed (its error) or is partial (the files not read or restored); why a running job waits. */
  reason: z.string().optional(),
  attempt: z.number().int().min(1),
  files: count,
  bytes: count,
  /** From the grant of resources (`startedAt`) to the end, or to the report's end while running; absent when it never started. */
  durationSeconds: z.number().min(0).optional(),
  /** Bytes per second: the data path's measured rate when the agent reported one, else bytes over duration (README). */
  throughputBps: z.number().min(0).optional(),
  backupId: z.string().optional(),
  queuedAt: IsoTime,
  startedAt: IsoTime.optional(),
  endedAt: IsoTime.optional(),
};
export const ReportStream = z.object(lineFields).strict();
export type ReportStream = z.output<typeof ReportStream>;

/** A job, and for a multiple-data-streams parent its streams (lowest job id first). */
export const ReportLine = z.object({ ...lineFields, streams: z.array(ReportStream).optional() }).strict();
export type ReportLine = z.output<typeof ReportLine>;

/**
 * The figures of the period, over the jobs listed at top level (a
 * multiple-data-streams parent counts once: its record holds what its streams
 * moved, in all). Files, bytes and time count ended jobs only.
 */
export const ReportTotals = z
  .object({
    jobs: count,
    failed: count,
    partial: count,
    succeeded: count,
    running: count,
    files: count,
    bytes: count,
    /** From the first ended job's start to the last one's end (wall clock, not the sum of durations). */
    elapsedSeconds: z.number().min(0),
    /** `bytes` over `elapsedSeconds`: how fast the period went, all jobs together. */
    throughputBps: z.number().min(0),
    /** How many ended jobs had each status, lowest code first. */
    byStatus: z.array(z.object({ statusCode: z.number().int(), statusText: z.string(), jobs: z.number().int().positive() }).strict()),
  })
  .strict();
export type ReportTotals = z.output<typeof ReportTotals>;

export const JobReport = z
  .object({
    format: z.literal(REPORT_FORMAT),
    version: z.literal(REPORT_VERSION),
    /** The period: jobs that ended in it, and jobs not ended when the report was made. */
    period: z.object({ from: IsoTime, to: IsoTime }).strict(),
    generatedAt: IsoTime,
    /** Failures, then partial, then successes, then jobs still running (README, ordering). */
    jobs: z.array(ReportLine),
    totals: ReportTotals,
    /** Set when the job table had more jobs than were read: older jobs of the period may be missing. */
    truncated: z.literal(true).optional(),
  })
  .strict();
export type JobReport = z.output<typeof JobReport>;
