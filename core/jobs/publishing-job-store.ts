import type { Job, JobProgress, JobState } from '../model/job.ts';
import type { JobEventPublisher, JobStateChange } from '../ports/job-events.ts';
import { jobStateChange } from '../ports/job-events.ts';
import type { JobQuery, JobStore, ProgressOutcome } from '../ports/job-store.ts';
import type { UsageCounters, UsageDelta } from '../model/job-usage.ts';

/** Told of a change that could not be published, with why. Must not throw (what it throws is dropped). */
export type PublishFailureHandler = (change: JobStateChange, error: unknown) => void;

/**
 * A JobStore that publishes every change of a job's state it writes: the
 * queue (create), the broker's grant (QUEUED → ACTIVE), a retry (→ QUEUED),
 * the end (→ DONE), whoever writes them (the jobs and broker Lambdas, the
 * janitor, a cancel). Wrapping the store, rather than calling a publisher
 * from each service, keeps event publishing out of the job rules and catches
 * every writer, the ones to come included.
 *
 * The store is the truth and is written first. A change is published after
 * its write succeeded, and at most once per write: an `update` that leaves the
 * state as it was (progress, a waiting reason, an `expectedStates` refusal)
 * publishes nothing. A publish that fails never fails the write nor undoes
 * it: `onFailure` is told (the Lambdas log it and count
 * `JobEventsNotPublished`) and the caller gets its job. The publisher does its
 * own retrying (aws/eventbridge-job-events.ts), so a failure here is final.
 */
export class PublishingJobStore implements JobStore {
  readonly #store: JobStore;
  readonly #events: JobEventPublisher;
  readonly #onFailure: PublishFailureHandler;

  constructor(store: JobStore, events: JobEventPublisher, onFailure: PublishFailureHandler) {
    this.#store = store;
    this.#events = events;
    this.#onFailure = onFailure;
  }

  nextJobId(): Promise<number> {
    return this.#store.nextJobId();
  }

  async create(job: Job): Promise<void> {
    await this.#store.create(job);
    await this.#publish(job, undefined);
  }

  get(jobId: number): Promise<Job | undefined> {
    return this.#store.get(jobId);
  }

  async update(jobId: number, change: (job: Job) => Job, options?: { expectedStates?: readonly JobState[] }): Promise<Job> {
    // `change` may run more than once (a lost race is retried): the last run saw the record that was replaced.
    let before: JobState | undefined;
    const updated = await this.#store.update(
      jobId,
      (job) => {
        before = job.state;
        return change(job);
      },
      options,
    );
    if (updated.state !== before) await this.#publish(updated, before);
    return updated;
  }

  list(query?: JobQuery): Promise<Job[]> {
    return this.#store.list(query);
  }

  findByExecution(executionName: string): Promise<Job | undefined> {
    return this.#store.findByExecution(executionName);
  }

  /** Usage is the job's bill, not its state: nothing to publish. */
  recordUsage(jobId: number, usage: UsageDelta): Promise<void> {
    return this.#store.recordUsage(jobId, usage);
  }

  usage(jobId: number): Promise<UsageCounters> {
    return this.#store.usage(jobId);
  }

  /** Progress is recorded only while ACTIVE and never changes the state: nothing to publish. */
  recordProgress(jobId: number, progress: Partial<JobProgress>, at: Date): Promise<ProgressOutcome> {
    return this.#store.recordProgress(jobId, progress, at);
  }

  async #publish(job: Job, previousState: JobState | undefined): Promise<void> {
    const change = jobStateChange(job, previousState);
    try {
      await this.#events.publish(change);
    } catch (error) {
      try {
        this.#onFailure(change, error);
      } catch {
        // A reporter that throws must not turn a stored change into a failed one.
      }
    }
  }
}
