import { isDeepStrictEqual } from 'node:util';
import { CairnError, ConflictError, NotFoundError } from '#core/errors.ts';
import { assertJobId, assertSameJobId } from '#core/ids.ts';
import type { Job, JobProgress, JobState } from '#core/model/job.ts';
import { addUsage, checkedUsageDelta, emptyUsage, type UsageCounters, type UsageDelta } from '#core/model/job-usage.ts';
import { jobQueryLimit, type JobQuery, type JobStore, type ProgressOutcome } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { io, stored } from './copy.ts';

/**
 * JobStore in memory, for tests and benchmarks only (see README.md).
 *
 * Each method reads and writes in one synchronous step after its I/O turn,
 * so it is atomic the way a transaction is. `update` calls `change` twice on
 * two copies of the job and refuses a change that answers differently: the
 * port lets adapters retry `change` on a concurrent write, so an impure one
 * is a bug this store finds where SQLite would hide it.
 */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<number, Job>();
  readonly #executions = new Map<string, number>();
  readonly #usage = new Map<number, UsageCounters>();
  #lastId = 0;

  async nextJobId(): Promise<number> {
    await io();
    return ++this.#lastId;
  }

  async create(job: Job): Promise<void> {
    assertJobId(job.jobId);
    await io();
    if (job.executionName !== undefined && this.#executions.has(job.executionName)) throw new ConflictError(`a job for execution ${job.executionName} exists already`);
    if (this.#jobs.has(job.jobId)) throw new ConflictError(`job ${job.jobId} exists already`);
    if (job.executionName !== undefined) this.#executions.set(job.executionName, job.jobId);
    this.#jobs.set(job.jobId, stored(job));
  }

  async get(jobId: number): Promise<Job | undefined> {
    await io();
    const job = this.#jobs.get(jobId);
    return job === undefined ? undefined : stored(job);
  }

  async findByExecution(executionName: string): Promise<Job | undefined> {
    await io();
    const jobId = this.#executions.get(executionName);
    const job = jobId === undefined ? undefined : this.#jobs.get(jobId);
    return job === undefined ? undefined : stored(job);
  }

  async update(jobId: number, change: (job: Job) => Job, options: { expectedStates?: readonly JobState[] } = {}): Promise<Job> {
    await io();
    const current = this.#jobs.get(jobId);
    if (current === undefined) throw new NotFoundError('job', jobId);
    if (options.expectedStates !== undefined && !options.expectedStates.includes(current.state)) {
      throw new ConflictError(`job ${jobId} is ${current.state}, expected ${options.expectedStates.join(' or ') || 'no state'}`);
    }
    const next = stored(change(stored(current)));
    const retried = stored(change(stored(current)));
    if (!isDeepStrictEqual(next, retried)) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `the change to job ${jobId} is not pure: applied twice to the same job it gave two different jobs`);
    }
    assertSameJobId(jobId, next);
    this.#jobs.set(jobId, next);
    return stored(next);
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const limit = jobQueryLimit(query);
    await io();
    return [...this.#jobs.values()]
      .filter((job) => query.state === undefined || job.state === query.state)
      .sort((a, b) => b.jobId - a.jobId)
      .slice(0, limit)
      .map(stored);
  }

  async recordProgress(jobId: number, progress: Partial<JobProgress>, at: Date): Promise<ProgressOutcome> {
    await io();
    // Check and write in one turn of the event loop: the conditional write of the real stores.
    const current = this.#jobs.get(jobId);
    if (current === undefined) return { recorded: false };
    if (current.state !== 'ACTIVE') return { recorded: false, state: current.state, ...(current.statusCode === undefined ? {} : { statusCode: current.statusCode }) };
    const given = Object.fromEntries(Object.entries(progress).filter(([, value]) => value !== undefined));
    this.#jobs.set(jobId, stored({ ...current, progress: { ...current.progress, ...given }, updatedAt: at.toISOString() }));
    return { recorded: true };
  }

  async recordUsage(jobId: number, usage: UsageDelta): Promise<void> {
    assertJobId(jobId);
    const delta = checkedUsageDelta(usage);
    await io();
    this.#usage.set(jobId, addUsage(this.#usage.get(jobId) ?? {}, delta));
  }

  async usage(jobId: number): Promise<UsageCounters> {
    await io();
    return { ...(this.#usage.get(jobId) ?? emptyUsage()) };
  }
}
