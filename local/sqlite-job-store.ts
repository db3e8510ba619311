import { jobQueryLimit, type JobQuery, type JobStore, type ProgressOutcome } from '#core/ports/job-store.ts';
import { storedJob, type Job, type JobProgress, type JobState } from '#core/model/job.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { assertJobId, assertSameJobId } from '#core/ids.ts';
import { addUsage, checkedUsageDelta, emptyUsage, UsageCounters, type UsageDelta } from '#core/model/job-usage.ts';
import { parseOrThrow } from '#core/validation.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

export class SqliteJobStore implements JobStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async nextJobId(): Promise<number> {
    // UPSERT ... RETURNING is one statement, so concurrent processes never share an id.
    const row = this.#db
      .prepare("INSERT INTO counters (name, value) VALUES ('jobId', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value")
      .get() as { value: number };
    return row.value;
  }

  async create(job: Job): Promise<void> {
    assertJobId(job.jobId);
    // The job and its execution-name claim commit together or not at all.
    const insert = this.#db.transaction(() => {
      if (job.executionName !== undefined) {
        const claimed = this.#db.prepare('INSERT INTO executions (name, job_id) VALUES (?, ?) ON CONFLICT DO NOTHING').run(job.executionName, job.jobId);
        if (claimed.changes === 0) throw new ConflictError(`a job for execution ${job.executionName} exists already`);
      }
      const result = this.#db.prepare('INSERT INTO jobs (job_id, state, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(job.jobId, job.state, JSON.stringify(job));
      if (result.changes === 0) throw new ConflictError(`job ${job.jobId} exists already`);
    });
    insert.immediate();
  }

  async get(jobId: number): Promise<Job | undefined> {
    const row = this.#db.prepare('SELECT value FROM jobs WHERE job_id = ?').get(jobId) as { value: string } | undefined;
    return row ? storedJob(JSON.parse(row.value), `${jobId} in SQLite`) : undefined;
  }

  async findByExecution(executionName: string): Promise<Job | undefined> {
    const row = this.#db.prepare('SELECT jobs.value FROM executions JOIN jobs ON jobs.job_id = executions.job_id WHERE executions.name = ?').get(executionName) as { value: string } | undefined;
    return row ? storedJob(JSON.parse(row.value), `of execution ${executionName} in SQLite`) : undefined;
  }

  async update(jobId: number, change: (job: Job) => Job, options: { expectedStates?: readonly JobState[] } = {}): Promise<Job> {
    // An IMMEDIATE transaction holds the write lock from the read on, so the
    // change is applied to the latest record even across processes.
    const apply = this.#db.transaction((): Job => {
      const row = this.#db.prepare('SELECT value FROM jobs WHERE job_id = ?').get(jobId) as { value: string } | undefined;
      if (!row) throw new NotFoundError('job', jobId);
      const current = storedJob(JSON.parse(row.value), `${jobId} in SQLite`);
      if (options.expectedStates && !options.expectedStates.includes(current.state)) {
        throw new ConflictError(`job ${jobId} is ${current.state}, expected ${options.expectedStates.join(' or ')}`);
      }
      const next = change(current);
      assertSameJobId(jobId, next);
      this.#db.prepare('UPDATE jobs SET state = ?, value = ? WHERE job_id = ?').run(next.state, JSON.stringify(next), jobId);
      return next;
    });
    return apply.immediate();
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const limit = jobQueryLimit(query);
    const rows = (
      query.state
        ? this.#db.prepare('SELECT value FROM jobs WHERE state = ? ORDER BY job_id DESC LIMIT ?').all(query.state, limit)
        : this.#db.prepare('SELECT value FROM jobs ORDER BY job_id DESC LIMIT ?').all(limit)
    ) as { value: string }[];
    return rows.map((r) => storedJob(JSON.parse(r.value), 'in SQLite'));
  }

  async recordProgress(jobId: number, progress: Partial<JobProgress>, at: Date): Promise<ProgressOutcome> {
    // One statement: json_patch merges the reported fields into the stored job
    // (RFC 7396: only the keys given change), and the WHERE clause is the
    // ACTIVE check, so a report racing a cancel either lands before it or not at all.
    const patch = JSON.stringify({ progress: withoutUndefined(progress), updatedAt: at.toISOString() });
    const result = this.#db.prepare("UPDATE jobs SET value = json_patch(value, ?) WHERE job_id = ? AND state = 'ACTIVE'").run(patch, jobId);
    if (result.changes > 0) return { recorded: true };
    const row = this.#db.prepare('SELECT value FROM jobs WHERE job_id = ?').get(jobId) as { value: string } | undefined;
    if (!row) return { recorded: false };
    const job = JSON.parse(row.value) as Job;
    return { recorded: false, state: job.state, ...(job.statusCode === undefined ? {} : { statusCode: job.statusCode }) };
  }

  async recordUsage(jobId: number, usage: UsageDelta): Promise<void> {
    assertJobId(jobId);
    const delta = checkedUsageDelta(usage);
    // Read and write in one IMMEDIATE transaction: concurrent processes add in turn.
    const add = this.#db.transaction(() => {
      const row = this.#db.prepare('SELECT value FROM job_usage WHERE job_id = ?').get(jobId) as { value: string } | undefined;
      const sum = addUsage(row ? this.#usageOf(row.value, jobId) : {}, delta);
      this.#db.prepare('INSERT INTO job_usage (job_id, value) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET value = excluded.value').run(jobId, JSON.stringify(sum));
    });
    add.immediate();
  }

  async usage(jobId: number): Promise<UsageCounters> {
    const row = this.#db.prepare('SELECT value FROM job_usage WHERE job_id = ?').get(jobId) as { value: string } | undefined;
    return row ? this.#usageOf(row.value, jobId) : emptyUsage();
  }

  #usageOf(value: string, jobId: number): UsageCounters {
    return parseOrThrow(UsageCounters, JSON.parse(value), `usage of job ${jobId} in SQLite`, StatusCode.INTERNAL_ERROR);
  }
}

/** json_patch reads a JSON null as "remove this key": drop undefined fields instead of sending them. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
