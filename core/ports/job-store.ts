import type { Job, JobProgress, JobState } from '../model/job.ts';
import type { UsageCounters, UsageDelta } from '../model/job-usage.ts';
import { ValidationError } from '../errors.ts';

/**
 * What `recordProgress` did. Not recorded: the job is not ACTIVE (it ended,
 * a cancel among the reasons, or it is not running yet), with the state and
 * status the job has then, or it does not exist (no state).
 */
export type ProgressOutcome = { recorded: true } | { recorded: false; state?: JobState; statusCode?: number };

export interface JobQuery {
  state?: JobState;
  /** At most this many (a whole number, 0 or more), newest (highest job id) first. Default 100. */
  limit?: number;
}

/**
 * The job database (bpjobd). Job ids are sequential and never reused.
 * `update` is a compare-and-swap: two concurrent updates never lose one another.
 */
export interface JobStore {
  /** Atomically allocates the next job id (1, 2, 3, ...), even under concurrent callers. */
  nextJobId(): Promise<number>;
  /**
   * Stores a new job; ValidationError when its id is not a job id (`assertJobId`); ConflictError when that job id exists already, or when
   * the job has an `executionName` another job has: a scheduled job cannot be
   * created twice, however many scheduler ticks race.
   */
  create(job: Job): Promise<void>;
  get(jobId: number): Promise<Job | undefined>;
  /**
   * The job created with `executionName` (the name of the workflow execution
   * that runs it), or undefined when no job has it. The janitor finds the job
   * of an execution that ended this way (core/jobs/execution-janitor.ts).
   */
  findByExecution(executionName: string): Promise<Job | undefined>;
  /**
   * Applies `change` to the current job and stores the result atomically.
   * `change` may be called more than once (it is retried on a concurrent write), so it must be pure.
   * NotFoundError when the job does not exist; ConflictError when `expectedStates`
   * is given and the job's state is not one of them; ValidationError when the
   * change alters the job id. Nothing is written in any of these cases.
   */
  update(jobId: number, change: (job: Job) => Job, options?: { expectedStates?: readonly JobState[] }): Promise<Job>;
  list(query?: JobQuery): Promise<Job[]>;
  /**
   * Merges `progress` into the job's progress and sets `updatedAt`, only while
   * the job is ACTIVE, in one conditional write (never read-then-write): a
   * report that arrives after the job ended changes nothing and says why, so
   * the agent learns of a cancel from the answer. Concurrent `update`s lose
   * nothing to it and it loses nothing to them. Store failures reject.
   */
  recordProgress(jobId: number, progress: Partial<JobProgress>, at: Date): Promise<ProgressOutcome>;
  /**
   * Adds `usage` (counts the workflow's Lambdas measured of themselves while
   * they worked on the job) to what is recorded for the job id, atomically:
   * concurrent calls lose nothing. Kept apart from the job record, so no
   * `update` or `recordProgress` loses it or is lost to it. It does not check
   * that the job exists (a single conditional write cannot on DynamoDB): only
   * a job's own workflow records for its id, and ids are never reused.
   * ValidationError for a job id that is not one (`assertJobId`), or a
   * counter that is unknown, negative or not finite; nothing is recorded then.
   * The DynamoDB adapter adds the write that records it, which it knows the
   * size of (docs/cost.md).
   */
  recordUsage(jobId: number, usage: UsageDelta): Promise<void>;
  /** What `recordUsage` added up for the job; every counter 0 when nothing was recorded. */
  usage(jobId: number): Promise<UsageCounters>;
}

/** The limit of a job query, checked the same way by every adapter. */
export function jobQueryLimit(query: JobQuery): number {
  const limit = query.limit ?? 100;
  if (!(Number.isSafeInteger(limit) && limit >= 0)) throw new ValidationError('invalid job query', [`limit: ${limit} is not a whole number of jobs`]);
  return limit;
}
