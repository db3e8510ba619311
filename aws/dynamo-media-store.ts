import { GetCommand, TransactWriteCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CairnError, ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import type { MediaStore, Reservation, ReservationResult } from '#core/ports/media-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import {
  MAX_OPTIMISTIC_ATTEMPTS,
  backoff,
  cancellationReasons,
  dynamoFailure,
  isJobId,
  isRetryableCancellation,
  jobSortKey,
  numberAttribute,
  type DynamoStoreOptions,
} from './dynamo-support.ts';

const RES = 'RES';
const STU = 'STU';

/**
 * MediaStore on the Media table.
 *
 * Item layouts:
 * - reservation: `{ pk: 'RES', sk: <12-digit job id>, jobId, storageUnit, reservedAt }`
 * - slot counter: `{ pk: 'STU', sk: <unit name>, inUse }`
 *
 * A reservation and its counter change in ONE TransactWriteItems, so the
 * counter always equals the number of reservation items of its unit, and two
 * jobs racing for the last slot cannot both win: DynamoDB serialises the
 * conditional increments. A transaction that merely collided with another one
 * (TransactionConflict) is run again; only a failed `inUse < max` condition is
 * a denial.
 */
export class DynamoMediaStore implements MediaStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async reserve(request: { jobId: number; storageUnit: string; maxConcurrentJobs: number; at: Date }): Promise<ReservationResult> {
    const { jobId, storageUnit, maxConcurrentJobs, at } = request;
    const reservation: Reservation = { jobId, storageUnit, reservedAt: at.toISOString() };
    assertJobId(jobId);
    for (let attempt = 1; ; attempt++) {
      const held = await this.#reservation(jobId);
      if (held !== undefined) return this.#alreadyHeld(held, storageUnit);
      if (!(maxConcurrentJobs >= 1)) {
        const inUse = await this.#inUse(storageUnit);
        return { granted: false, reason: `storage unit ${storageUnit} accepts no jobs (maximum ${maxConcurrentJobs}, ${inUse} in use)`, inUse };
      }
      try {
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.#table,
                  Key: { pk: STU, sk: storageUnit },
                  UpdateExpression: 'SET inUse = if_not_exists(inUse, :zero) + :one',
                  ConditionExpression: 'attribute_not_exists(inUse) OR inUse < :max',
                  ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': maxConcurrentJobs },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              },
              {
                Put: {
                  TableName: this.#table,
                  Item: { pk: RES, sk: jobSortKey(jobId), ...reservation },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return { granted: true, reservation };
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        const [counter, put] = reasons;
        // The job's own reservation appeared meanwhile (a concurrent retry of the same
        // step): the next round reads it and answers idempotently.
        const ownReservationAppeared = put?.Code === 'ConditionalCheckFailed';
        if (counter?.Code === 'ConditionalCheckFailed' && !ownReservationAppeared) {
          // DynamoDB may report only the first failed condition: look once more for the job's own slot.
          const heldNow = await this.#reservation(jobId);
          if (heldNow !== undefined) return this.#alreadyHeld(heldNow, storageUnit);
          const inUse = numberAttribute(counter.Item?.inUse?.N) ?? (await this.#inUse(storageUnit));
          return { granted: false, reason: `storage unit ${storageUnit} has ${inUse} of ${maxConcurrentJobs} slots in use`, inUse };
        }
        const retryable = ownReservationAppeared || isRetryableCancellation(reasons);
        if (!retryable) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) {
          throw new ConflictError(`reserving a slot of ${storageUnit} for job ${jobId} kept colliding with other transactions`, { cause: error, kind: 'contention' });
        }
        await backoff(attempt);
      }
    }
  }

  async release(jobId: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const held = await this.#reservation(jobId);
      if (held === undefined) return false;
      try {
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: this.#table,
                  Key: { pk: RES, sk: jobSortKey(jobId) },
                  ConditionExpression: 'attribute_exists(pk)',
                },
              },
              {
                Update: {
                  TableName: this.#table,
                  Key: { pk: STU, sk: held.storageUnit },
                  UpdateExpression: 'SET inUse = inUse - :one',
                  ConditionExpression: 'inUse > :zero',
                  ExpressionAttributeValues: { ':zero': 0, ':one': 1 },
                },
              },
            ],
          }),
        );
        return true;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        const [reservation, counter] = reasons;
        // Released by a concurrent call: the next round finds nothing and answers false.
        const retryable = reservation?.Code === 'ConditionalCheckFailed' || isRetryableCancellation(reasons);
        if (!retryable && counter?.Code === 'ConditionalCheckFailed') {
          throw new CairnError(
            StatusCode.INTERNAL_ERROR,
            `storage unit ${held.storageUnit} counts no slot in use although job ${jobId} holds one; the media table ${this.#table} needs a consistency check`,
            { cause: error },
          );
        }
        if (!retryable) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) {
          throw new ConflictError(`releasing job ${jobId} kept colliding with other transactions`, { cause: error, kind: 'contention' });
        }
        await backoff(attempt);
      }
    }
  }

  async listReservations(storageUnit?: string): Promise<Reservation[]> {
    const reservations: Reservation[] = [];
    try {
      const pages = paginateQuery(
        { client: this.#client },
        {
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': RES, ...(storageUnit === undefined ? {} : { ':unit': storageUnit }) },
          ...(storageUnit === undefined ? {} : { FilterExpression: 'storageUnit = :unit' }),
          ConsistentRead: true,
        },
      );
      // Zero-padded sort keys: the Query returns job ids ascending.
      for await (const page of pages) for (const item of page.Items ?? []) reservations.push(toReservation(item));
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    return reservations;
  }

  #alreadyHeld(held: Reservation, storageUnit: string): ReservationResult {
    if (held.storageUnit !== storageUnit) {
      throw new ConflictError(`job ${held.jobId} already holds a slot of storage unit ${held.storageUnit}, not ${storageUnit}; release it first`);
    }
    return { granted: true, reservation: held };
  }

  async #reservation(jobId: number): Promise<Reservation | undefined> {
    if (!isJobId(jobId)) return undefined;
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: RES, sk: jobSortKey(jobId) }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : toReservation(out.Item);
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }

  async #inUse(storageUnit: string): Promise<number> {
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: STU, sk: storageUnit }, ConsistentRead: true }));
      return numberAttribute(out.Item?.inUse) ?? 0;
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }
}

function toReservation(item: Record<string, unknown>): Reservation {
  return { jobId: numberAttribute(item.jobId) ?? 0, storageUnit: String(item.storageUnit), reservedAt: String(item.reservedAt) };
}
