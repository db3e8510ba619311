import type { JobQuery, JobStore } from '#core/ports/job-store.ts';
import { storedJob, type Job, type JobState } from '#core/model/job.ts';
import { ConflictError, NotFoundError } from '#core/errors.ts';
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

  async update(jobId: number, change: (job: Job) => Job, options: { expectedStates?: readonly JobState[] } = {}): Promise<Job> {
    // An IMMEDIATE transaction holds the write lock from the read on, so the
    // change is applied to the latest record even across processes.
    const apply = this.#db.transaction((): Job => {
      const row = this.#db.prepare('SELECT value FROM jobs WHERE job_id = ?').get(jobId) as { value: string } | undefined;
      if (!row) throw new NotFoundError(`job ${jobId}`);
      const current = storedJob(JSON.parse(row.value), `${jobId} in SQLite`);
      if (options.expectedStates && !options.expectedStates.includes(current.state)) {
        throw new ConflictError(`job ${jobId} is ${current.state}, expected ${options.expectedStates.join(' or ')}`);
      }
      const next = change(current);
      if (next.jobId !== jobId) throw new ConflictError(`a change may not alter the job id (${jobId} -> ${next.jobId})`);
      this.#db.prepare('UPDATE jobs SET state = ?, value = ? WHERE job_id = ?').run(next.state, JSON.stringify(next), jobId);
      return next;
    });
    return apply.immediate();
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const limit = query.limit ?? 100;
    const rows = (
      query.state
        ? this.#db.prepare('SELECT value FROM jobs WHERE state = ? ORDER BY job_id DESC LIMIT ?').all(query.state, limit)
        : this.#db.prepare('SELECT value FROM jobs ORDER BY job_id DESC LIMIT ?').all(limit)
    ) as { value: string }[];
    return rows.map((r) => storedJob(JSON.parse(r.value), 'in SQLite'));
  }
}
