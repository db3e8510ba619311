import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CairnError, ConflictError, NotFoundError } from '#core/errors.ts';
import { assertJobId, assertSameJobId } from '#core/ids.ts';
import { storedJob, type Job, type JobProgress, type JobState } from '#core/model/job.ts';
import { USAGE_COUNTERS, UsageCounters, checkedUsageDelta, emptyUsage, type UsageDelta } from '#core/model/job-usage.ts';
import { parseOrThrow } from '#core/validation.ts';
import { jobQueryLimit, type JobQuery, type JobStore, type ProgressOutcome } from '#core/ports/job-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import {
  MAX_OPTIMISTIC_ATTEMPTS,
  backoff,
  cancellationReasons,
  dynamoFailure,
  isConditionalCheckFailed,
  isJobId,
  jobSortKey,
  numberAttribute,
  parseDocument,
  type DynamoStoreOptions,
} from './dynamo-support.ts';

const JOB = 'JOB';
const COUNTER_KEY = { pk: 'COUNTER', sk: 'jobId' } as const;
/** `{ pk: 'EXEC', sk: <execution name>, jobId }`: claims a scheduled job's execution name. */
const EXECUTION = 'EXEC';
/** `{ pk: 'USAGE', sk: <12-digit job id>, jobId, <counter>: number, ... }`: what the workflow's Lambdas recorded (recordUsage). */
const USAGE = 'USAGE';

/**
 * JobStore on the Jobs table.
 *
 * Item layouts:
 * - job: `{ pk: 'JOB', sk: <12-digit job id>, jobId, state, rev, json, progress,
 *   updatedAt }`. `json` is the Job as JSON; `state` is copied out for the list
 *   filter; `rev` counts writes and is the compare-and-swap token of `update`.
 *   `progress` (a map) and `updatedAt` are copies too, and win over `json` on
 *   read: `recordProgress` changes only them, with one UpdateItem, so the agent
 *   needs no read and no PutItem, and IAM can limit it to these attributes
 *   (cdk/constructs/agent-role.ts). Items written before they existed read as
 *   before; the first progress report on such an item writes the whole map.
 * - counter: `{ pk: 'COUNTER', sk: 'jobId', value }`, incremented with `ADD`,
 *   which DynamoDB applies atomically, so concurrent callers never share an id.
 * - usage: `{ pk: 'USAGE', sk: <12-digit job id>, jobId, <counter>... }`, one
 *   number attribute per usage counter, added to with `ADD` (atomic, no read).
 *   Its own item, not the job's: `update` rewrites the job item whole, and the
 *   usage item stays small. Its largest form (every counter, names of at most
 *   22 bytes, numbers of at most 21) is about 650 bytes, under the 1 KB that
 *   one write request unit covers, so each `recordUsage` costs exactly one
 *   unit whatever it adds, and counts itself as such.
 */
export class DynamoJobStore implements JobStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async nextJobId(): Promise<number> {
    let value: number | undefined;
    try {
      const out = await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: COUNTER_KEY,
          UpdateExpression: 'ADD #value :one',
          ExpressionAttributeNames: { '#value': 'value' },
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      value = numberAttribute(out.Attributes?.value);
    } catch (error) {
      throw dynamoFailure('UpdateItem', this.#table, error);
    }
    if (value === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `the job id counter in table ${this.#table} returned no value`);
    return value;
  }

  async create(job: Job): Promise<void> {
    assertJobId(job.jobId);
    if (job.executionName !== undefined) return this.#createClaimingExecution(job, job.executionName);
    try {
      await this.#client.send(
        new PutCommand({ TableName: this.#table, Item: this.#item(job, 0), ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) throw new ConflictError(`job ${job.jobId} exists already`, { cause: error });
      throw dynamoFailure('PutItem', this.#table, error);
    }
  }

  /** The job and its execution-name claim are written in one transaction: a second job with the name is refused. */
  async #createClaimingExecution(job: Job, executionName: string): Promise<void> {
    try {
      await this.#client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.#table, Item: this.#item(job, 0), ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: this.#table, Item: { pk: EXECUTION, sk: executionName, jobId: job.jobId }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons?.[1]?.Code === 'ConditionalCheckFailed') throw new ConflictError(`a job for execution ${executionName} exists already`, { cause: error });
      if (reasons?.[0]?.Code === 'ConditionalCheckFailed') throw new ConflictError(`job ${job.jobId} exists already`, { cause: error });
      throw dynamoFailure('TransactWriteItems', this.#table, error);
    }
  }

  async get(jobId: number): Promise<Job | undefined> {
    return (await this.#read(jobId))?.job;
  }

  /** Two GetItems: the execution-name claim `create` wrote, then the job it names. */
  async findByExecution(executionName: string): Promise<Job | undefined> {
    // DynamoDB refuses an empty key attribute; no execution has an empty name.
    if (executionName === '') return undefined;
    let item: Record<string, unknown> | undefined;
    try {
      item = (await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: EXECUTION, sk: executionName }, ConsistentRead: true }))).Item;
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
    const jobId = numberAttribute(item?.jobId);
    return jobId === undefined ? undefined : this.get(jobId);
  }

  async update(jobId: number, change: (job: Job) => Job, options: { expectedStates?: readonly JobState[] } = {}): Promise<Job> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#read(jobId);
      if (current === undefined) throw new NotFoundError('job', jobId);
      const { expectedStates } = options;
      if (expectedStates !== undefined && !expectedStates.includes(current.job.state)) {
        throw new ConflictError(`job ${jobId} is ${current.job.state}, expected ${expectedStates.join(' or ') || 'no state'}`);
      }
      const next = change(current.job);
      assertSameJobId(jobId, next);
      try {
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: this.#item(next, current.rev + 1),
            ConditionExpression: '#rev = :rev',
            ExpressionAttributeNames: { '#rev': 'rev' },
            ExpressionAttributeValues: { ':rev': current.rev },
          }),
        );
        return JSON.parse(JSON.stringify(next)) as Job;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw dynamoFailure('PutItem', this.#table, error);
        // Somebody else wrote the job since we read it: read again and re-apply `change`.
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) {
          throw new ConflictError(`job ${jobId} kept changing under ${attempt} attempts to update it`, { cause: error, kind: 'contention' });
        }
        await backoff(attempt);
      }
    }
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const limit = jobQueryLimit(query);
    const jobs: Job[] = [];
    if (limit <= 0) return jobs;
    const filter = query.state === undefined ? {} : {
      FilterExpression: '#state = :state',
      ExpressionAttributeNames: { '#state': 'state' },
    };
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const remaining = limit - jobs.length;
        // Limit counts items read before the filter: without a filter it is exact;
        // with one, read a little ahead and keep paging until `limit` items matched.
        const out = await this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': JOB, ...(query.state === undefined ? {} : { ':state': query.state }) },
            ...filter,
            ScanIndexForward: false,
            ConsistentRead: true,
            Limit: query.state === undefined ? remaining : Math.min(1000, Math.max(remaining * 4, 100)),
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of out.Items ?? []) {
          if (jobs.length < limit) jobs.push(withProgress(storedJob(parseDocument(item, this.#table), `${String(item.sk)} in table ${this.#table}`), item));
        }
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined && jobs.length < limit);
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    return jobs;
  }

  async #read(jobId: number): Promise<{ job: Job; rev: number } | undefined> {
    if (!isJobId(jobId)) return undefined;
    const key = { pk: JOB, sk: jobSortKey(jobId) };
    let item: Record<string, unknown> | undefined;
    try {
      item = (await this.#client.send(new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }))).Item;
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
    const document = parseDocument(item, this.#table);
    return document === undefined ? undefined : { job: withProgress(storedJob(document, `${jobId} in table ${this.#table}`), item!), rev: numberAttribute(item?.rev) ?? 0 };
  }

  #item(job: Job, rev: number): Record<string, unknown> {
    return { pk: JOB, sk: jobSortKey(job.jobId), jobId: job.jobId, state: job.state, rev, json: JSON.stringify(job), progress: job.progress, updatedAt: job.updatedAt };
  }

  async recordProgress(jobId: number, progress: Partial<JobProgress>, at: Date): Promise<ProgressOutcome> {
    if (!isJobId(jobId)) return { recorded: false };
    const fields = Object.entries(progress).filter(([, value]) => value !== undefined);
    for (let attempt = 1; ; attempt++) {
      // One conditional UpdateItem: the fields into the progress map, updatedAt, and
      // `rev` bumped so a concurrent `update` (compare-and-swap on rev) re-reads
      // instead of writing back the progress it read before.
      const names: Record<string, string> = { '#progress': 'progress', '#updatedAt': 'updatedAt', '#rev': 'rev', '#state': 'state' };
      const values: Record<string, unknown> = { ':at': at.toISOString(), ':one': 1, ':active': 'ACTIVE', ':map': 'M' };
      fields.forEach(([name, value], i) => {
        names[`#f${i}`] = name;
        values[`:f${i}`] = value;
      });
      const sets = [...fields.map((_, i) => `#progress.#f${i} = :f${i}`), '#updatedAt = :at'];
      let failed: Record<string, unknown> | undefined;
      try {
        await this.#client.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { pk: JOB, sk: jobSortKey(jobId) },
            UpdateExpression: `SET ${sets.join(', ')} ADD #rev :one`,
            ConditionExpression: '#state = :active AND attribute_type(#progress, :map)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            // The job as it was when the condition failed: why the report was not recorded, without a read.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { recorded: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw dynamoFailure('UpdateItem', this.#table, error);
        failed = (error as { Item?: Record<string, unknown> }).Item;
      }
      const state = stringAttribute(failed?.state);
      if (failed === undefined || state === undefined) return { recorded: false };
      const json = stringAttribute(failed.json);
      const job = json === undefined ? undefined : (JSON.parse(json) as Job);
      if (state !== 'ACTIVE' || job === undefined) return { recorded: false, state: state as JobState, ...(job?.statusCode === undefined ? {} : { statusCode: job.statusCode }) };
      // ACTIVE but written before the progress map existed: write the whole map once.
      if (attempt >= 3) throw new ConflictError(`job ${jobId}: its progress could not be recorded in ${attempt} attempts`);
      try {
        await this.#client.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { pk: JOB, sk: jobSortKey(jobId) },
            UpdateExpression: 'SET #progress = :progress, #updatedAt = :at ADD #rev :one',
            ConditionExpression: '#state = :active AND attribute_not_exists(#progress)',
            ExpressionAttributeNames: { '#progress': 'progress', '#updatedAt': 'updatedAt', '#rev': 'rev', '#state': 'state' },
            ExpressionAttributeValues: { ':progress': { ...job.progress, ...Object.fromEntries(fields) }, ':at': at.toISOString(), ':one': 1, ':active': 'ACTIVE' },
          }),
        );
        return { recorded: true };
      } catch (error) {
        // Another report wrote the map first, or the job ended: the loop asks again.
        if (!isConditionalCheckFailed(error)) throw dynamoFailure('UpdateItem', this.#table, error);
      }
    }
  }

  async recordUsage(jobId: number, usage: UsageDelta): Promise<void> {
    assertJobId(jobId);
    // This write is one more write request of one unit (see the class comment).
    const delta = Object.entries(checkedUsageDelta({ ...usage, dynamoWriteRequests: (usage.dynamoWriteRequests ?? 0) + 1, dynamoWriteUnits: (usage.dynamoWriteUnits ?? 0) + 1 }));
    const names: Record<string, string> = { '#jobId': 'jobId' };
    const values: Record<string, unknown> = { ':jobId': jobId };
    delta.forEach(([name, value], i) => {
      names[`#c${i}`] = name;
      values[`:c${i}`] = value;
    });
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: USAGE, sk: jobSortKey(jobId) },
          UpdateExpression: `SET #jobId = :jobId ADD ${delta.map((_, i) => `#c${i} :c${i}`).join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      throw dynamoFailure('UpdateItem', this.#table, error);
    }
  }

  async usage(jobId: number): Promise<UsageCounters> {
    if (!isJobId(jobId)) return emptyUsage();
    let item: Record<string, unknown> | undefined;
    try {
      item = (await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: USAGE, sk: jobSortKey(jobId) }, ConsistentRead: true }))).Item;
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
    if (item === undefined) return emptyUsage();
    const stored = item;
    const counters = Object.fromEntries(USAGE_COUNTERS.filter((name) => stored[name] !== undefined).map((name) => [name, numberAttribute(stored[name])]));
    return parseOrThrow(UsageCounters, counters, `usage of job ${jobId} in table ${this.#table}`, StatusCode.INTERNAL_ERROR);
  }
}

/** The job with the progress and updatedAt attributes laid over its JSON (they are newer when `recordProgress` wrote them). */
function withProgress(job: Job, item: Record<string, unknown>): Job {
  const progress = item.progress;
  const updatedAt = item.updatedAt;
  return {
    ...job,
    ...(progress !== null && typeof progress === 'object' ? { progress: { ...job.progress, ...(progress as Partial<JobProgress>) } } : {}),
    ...(typeof updatedAt === 'string' ? { updatedAt } : {}),
  };
}

/** A string attribute of a raw (not unmarshalled) item, as errors carry them: `{ S: '...' }`. */
function stringAttribute(value: unknown): string | undefined {
  const s = (value as { S?: unknown } | undefined)?.S;
  return typeof s === 'string' ? s : undefined;
}
