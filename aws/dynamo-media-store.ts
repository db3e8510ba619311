import { GetCommand, TransactWriteCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CairnError, ConflictError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import type { HeldResource, MediaStore, Reservation, ReservationResult, RequestedResource, ResourceRequest, VolumeExchange } from '#core/ports/media-store.ts';
import { checkRequest, compareReservations, describeResource, exclusiveKey, heldByReason, heldResource, holdsExactly, planVolumeExchange } from '#core/model/resource-request.ts';
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
const HOLD = 'HOLD';

/** A job's reservation item, as read: everything it holds, and when it was granted. */
interface Held {
  jobId: number;
  resources: HeldResource[];
  reservedAt: string;
}

/**
 * MediaStore on the Media table.
 *
 * Item layouts:
 * - reservation: `{ pk: 'RES', sk: <12-digit job id>, jobId, resources: [HeldResource...], reservedAt }`;
 *   items written before resource requests have `storageUnit` instead of
 *   `resources` and are read as one storage-unit slot.
 * - slot counter: `{ pk: 'STU', sk: <unit name>, inUse }`
 * - drive or volume hold: `{ pk: 'HOLD', sk: 'drive#<name>' | 'volume#<media id>', jobId }`
 *
 * A drive or volume a job takes is a hold item put on condition that it
 * does not exist, in the same transaction: so a drive is never held by two
 * jobs (whatever unit they ask through), nor a volume, and a request that
 * loses one of them takes nothing else.
 * A job's whole request is ONE TransactWriteItems: the reservation item and
 * a conditional increment of every slot counter it takes. So the counters
 * always equal the slots held, a request is granted entirely or not at all,
 * and two jobs racing for the last slot cannot both win: DynamoDB serialises
 * the conditional increments. A transaction that merely collided with
 * another one (TransactionConflict) is run again; only a failed
 * `inUse < max` condition is a denial.
 */
export class DynamoMediaStore implements MediaStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async reserve(request: ResourceRequest): Promise<ReservationResult> {
    assertJobId(request.jobId);
    checkRequest(request);
    const { jobId, at } = request;
    const slots = request.resources.filter((r) => r.kind === 'storage-unit-slot');
    const exclusive = request.resources.filter((r) => r.kind !== 'storage-unit-slot');
    const held: Held = { jobId, resources: request.resources.map(heldResource), reservedAt: at.toISOString() };
    for (let attempt = 1; ; attempt++) {
      const current = await this.#held(jobId);
      if (current !== undefined) return this.#alreadyHeld(current, request.resources);
      const closed = slots.find((s) => !(s.maxConcurrentJobs >= 1));
      if (closed) {
        const inUse = await this.#inUse(closed.storageUnit);
        return { granted: false, refused: closed, inUse, reason: `storage unit ${closed.storageUnit} accepts no jobs (maximum ${closed.maxConcurrentJobs}, ${inUse} in use)` };
      }
      try {
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: this.#table, Item: { pk: RES, sk: jobSortKey(jobId), ...held }, ConditionExpression: 'attribute_not_exists(pk)' } },
              ...slots.map((slot) => ({
                Update: {
                  TableName: this.#table,
                  Key: { pk: STU, sk: slot.storageUnit },
                  UpdateExpression: 'SET inUse = if_not_exists(inUse, :zero) + :one',
                  ConditionExpression: 'attribute_not_exists(inUse) OR inUse < :max',
                  ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': slot.maxConcurrentJobs },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
                },
              })),
              ...exclusive.map((resource) => ({
                Put: {
                  TableName: this.#table,
                  Item: { pk: HOLD, sk: exclusiveKey(resource)!, jobId },
                  ConditionExpression: 'attribute_not_exists(pk)',
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
                },
              })),
            ],
          }),
        );
        return { granted: true, reservations: toReservations(held) };
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        const [put] = reasons;
        const counters = reasons.slice(1, 1 + slots.length);
        const holds = reasons.slice(1 + slots.length);
        // The job's own reservation appeared meanwhile (a concurrent retry of the same
        // step): the next round reads it and answers idempotently.
        const ownReservationAppeared = put?.Code === 'ConditionalCheckFailed';
        const taken = holds.findIndex((h) => h?.Code === 'ConditionalCheckFailed');
        if (taken >= 0 && !ownReservationAppeared) {
          const heldNow = await this.#held(jobId);
          if (heldNow !== undefined) return this.#alreadyHeld(heldNow, request.resources);
          const resource = exclusive[taken]!;
          const holder = numberAttribute(holds[taken]?.Item?.jobId?.N) ?? (await this.#holder(exclusiveKey(resource)!));
          // Released between the two reads: the next round tries again.
          if (holder !== undefined) return { granted: false, refused: resource, inUse: 1, reason: heldByReason(resource, holder) };
        }
        const full = counters.findIndex((c) => c?.Code === 'ConditionalCheckFailed');
        if (full >= 0 && !ownReservationAppeared) {
          // DynamoDB may report only the first failed condition: look once more for the job's own reservation.
          const heldNow = await this.#held(jobId);
          if (heldNow !== undefined) return this.#alreadyHeld(heldNow, request.resources);
          const slot = slots[full]!;
          const inUse = numberAttribute(counters[full]?.Item?.inUse?.N) ?? (await this.#inUse(slot.storageUnit));
          return { granted: false, refused: slot, inUse, reason: `storage unit ${slot.storageUnit} has ${inUse} of ${slot.maxConcurrentJobs} slots in use` };
        }
        const retryable = ownReservationAppeared || taken >= 0 || isRetryableCancellation(reasons);
        if (!retryable) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) {
          throw new ConflictError(`reserving ${request.resources.map(describeResource).join(', ')} for job ${jobId} kept colliding with other transactions`, { cause: error, kind: 'contention' });
        }
        await backoff(attempt);
      }
    }
  }

  /**
   * One TransactWriteItems: the job's reservation item gets its new
   * resource list (on condition that it still has the list read, so two
   * exchanges of one job cannot interleave), the old volume's hold item is
   * deleted (on condition that it is the job's) and the new one put (on
   * condition that nobody holds it). A lost hold is a refusal; a collision
   * is run again.
   */
  async exchangeVolume(exchange: VolumeExchange): Promise<ReservationResult> {
    assertJobId(exchange.jobId);
    const { jobId, from, to } = exchange;
    const wanted: HeldResource = { kind: 'volume', pool: to.pool, mediaId: to.mediaId };
    for (let attempt = 1; ; attempt++) {
      const current = await this.#held(jobId);
      const plan = planVolumeExchange(current?.resources ?? [], exchange);
      if (plan.kind === 'already') return { granted: true, reservations: toReservations(current!) };
      const next: Held = { ...current!, resources: plan.next };
      try {
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.#table,
                  Key: { pk: RES, sk: jobSortKey(jobId) },
                  UpdateExpression: 'SET #resources = :next',
                  ConditionExpression: '#resources = :current',
                  ExpressionAttributeNames: { '#resources': 'resources' },
                  ExpressionAttributeValues: { ':next': next.resources, ':current': current!.resources },
                },
              },
              { Delete: { TableName: this.#table, Key: { pk: HOLD, sk: exclusiveKey({ kind: 'volume', pool: to.pool, mediaId: from })! }, ConditionExpression: 'jobId = :job', ExpressionAttributeValues: { ':job': jobId } } },
              { Put: { TableName: this.#table, Item: { pk: HOLD, sk: exclusiveKey(wanted)!, jobId }, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } },
            ],
          }),
        );
        return { granted: true, reservations: toReservations(next) };
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        const [reservation, oldHold, newHold] = reasons;
        if (newHold?.Code === 'ConditionalCheckFailed' && reservation?.Code !== 'ConditionalCheckFailed') {
          const holder = numberAttribute(newHold.Item?.jobId?.N) ?? (await this.#holder(exclusiveKey(wanted)!));
          if (holder !== undefined && holder !== jobId) return { granted: false, refused: { ...wanted }, inUse: 1, reason: heldByReason(wanted, holder) };
        }
        if (oldHold?.Code === 'ConditionalCheckFailed' && reservation?.Code !== 'ConditionalCheckFailed') {
          throw new CairnError(StatusCode.INTERNAL_ERROR, `volume ${from} is not held by job ${jobId} although its reservation lists it; the media table ${this.#table} needs a consistency check`, { cause: error });
        }
        // The reservation changed meanwhile (a concurrent retry of the step): the next round reads it again.
        const retryable = reservation?.Code === 'ConditionalCheckFailed' || newHold?.Code === 'ConditionalCheckFailed' || isRetryableCancellation(reasons);
        if (!retryable) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) throw new ConflictError(`exchanging volume ${from} for ${to.mediaId} for job ${jobId} kept colliding with other transactions`, { cause: error, kind: 'contention' });
        await backoff(attempt);
      }
    }
  }

  async release(jobId: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const held = await this.#held(jobId);
      if (held === undefined) return false;
      const units = held.resources.flatMap((r) => (r.kind === 'storage-unit-slot' ? [r.storageUnit] : []));
      const holds = held.resources.flatMap((r) => exclusiveKey(r) ?? []);
      try {
        await this.#client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Delete: { TableName: this.#table, Key: { pk: RES, sk: jobSortKey(jobId) }, ConditionExpression: 'attribute_exists(pk)' } },
              ...units.map((unit) => ({
                Update: {
                  TableName: this.#table,
                  Key: { pk: STU, sk: unit },
                  UpdateExpression: 'SET inUse = inUse - :one',
                  ConditionExpression: 'inUse > :zero',
                  ExpressionAttributeValues: { ':zero': 0, ':one': 1 },
                },
              })),
              // A hold that is missing is fine (nothing to give back); one of another job is never deleted.
              ...holds.map((sk) => ({
                Delete: { TableName: this.#table, Key: { pk: HOLD, sk }, ConditionExpression: 'attribute_not_exists(pk) OR jobId = :job', ExpressionAttributeValues: { ':job': jobId } },
              })),
            ],
          }),
        );
        return true;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        const [reservation] = reasons;
        const counters = reasons.slice(1, 1 + units.length);
        const foreignHold = reasons.slice(1 + units.length).findIndex((h) => h?.Code === 'ConditionalCheckFailed');
        // Released by a concurrent call: the next round finds nothing and answers false.
        const retryable = reservation?.Code === 'ConditionalCheckFailed' || isRetryableCancellation(reasons);
        const empty = counters.findIndex((c) => c?.Code === 'ConditionalCheckFailed');
        if (!retryable && empty >= 0) {
          throw new CairnError(
            StatusCode.INTERNAL_ERROR,
            `storage unit ${units[empty]} counts no slot in use although job ${jobId} holds one; the media table ${this.#table} needs a consistency check`,
            { cause: error },
          );
        }
        if (!retryable && foreignHold >= 0) {
          throw new CairnError(StatusCode.INTERNAL_ERROR, `${holds[foreignHold]} is held by another job although job ${jobId} holds it; the media table ${this.#table} needs a consistency check`, { cause: error });
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
        { TableName: this.#table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': RES }, ConsistentRead: true },
      );
      for await (const page of pages) for (const item of page.Items ?? []) reservations.push(...toReservations(toHeld(item)));
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    const mine = storageUnit === undefined ? reservations : reservations.filter((r) => 'storageUnit' in r && r.storageUnit === storageUnit);
    return mine.sort(compareReservations);
  }

  #alreadyHeld(held: Held, request: readonly RequestedResource[]): ReservationResult {
    if (!holdsExactly(held.resources, request)) {
      throw new ConflictError(`job ${held.jobId} holds ${held.resources.map(describeResource).join(', ')} already, not what it asks for now (${request.map(describeResource).join(', ')}); release it first`);
    }
    return { granted: true, reservations: toReservations(held) };
  }

  async #held(jobId: number): Promise<Held | undefined> {
    if (!isJobId(jobId)) return undefined;
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: RES, sk: jobSortKey(jobId) }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : toHeld(out.Item);
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }

  /** The job holding a drive or volume now, if any. */
  async #holder(sk: string): Promise<number | undefined> {
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: HOLD, sk }, ConsistentRead: true }));
      return numberAttribute(out.Item?.jobId);
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

/** A reservation item of either layout: `resources`, or (before resource requests) one `storageUnit` slot. */
function toHeld(item: Record<string, unknown>): Held {
  const resources = Array.isArray(item.resources)
    ? (item.resources as HeldResource[])
    : [{ kind: 'storage-unit-slot' as const, storageUnit: String(item.storageUnit) }];
  return { jobId: numberAttribute(item.jobId) ?? 0, resources, reservedAt: String(item.reservedAt) };
}

function toReservations(held: Held): Reservation[] {
  return held.resources.map((resource) => ({ jobId: held.jobId, ...resource, reservedAt: held.reservedAt })).sort(compareReservations);
}
