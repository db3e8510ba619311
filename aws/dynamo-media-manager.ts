import { GetCommand, TransactWriteCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EmmDatabase } from '#core/media/emm-database.ts';
import { MAX_EMM_WRITES, type EmmRecord, type EmmRecordKind, type EmmRecords, type EmmWrite } from '#core/ports/emm-records.ts';
import { CairnError, ConflictError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { MAX_OPTIMISTIC_ATTEMPTS, backoff, cancellationReasons, dynamoFailure, isRetryableCancellation, numberAttribute, parseDocument, type DynamoStoreOptions } from './dynamo-support.ts';

/** The partition of each kind of record in the Media table (beside the broker's RES and STU partitions). */
const partition: Record<EmmRecordKind, string> = { robot: 'ROBOT', drive: 'DRIVE', pool: 'POOL', media: 'VOLUME' };

/**
 * EmmRecords on the Media table, beside the broker's reservations, so that a
 * reservation and the drive and volume it takes can later change in one
 * TransactWriteItems on one table.
 *
 * Item layout: `{ pk: 'ROBOT' | 'DRIVE' | 'POOL' | 'VOLUME', sk: name or media id, version, json }`,
 * `json` the record as JSON. One partition per kind keeps "every volume" one
 * Query (a site has thousands of volumes, not millions).
 *
 * A commit is ONE TransactWriteItems: each Put / Delete conditional on the
 * item's `version` (absent for 0). A failed condition means somebody else
 * wrote first: `false`, nothing written. A transaction that only collided
 * with another one in flight (TransactionConflict) is sent again with backoff.
 */
export class DynamoEmmRecords implements EmmRecords {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async get(kind: EmmRecordKind, key: string): Promise<EmmRecord | undefined> {
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: partition[kind], sk: key }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : this.#record(kind, out.Item);
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }

  async list(kind: EmmRecordKind): Promise<EmmRecord[]> {
    const records: EmmRecord[] = [];
    try {
      const pages = paginateQuery(
        { client: this.#client },
        { TableName: this.#table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': partition[kind] }, ConsistentRead: true },
      );
      // Sort-key order is UTF-8 byte order: code point order, as the port asks.
      for await (const page of pages) for (const item of page.Items ?? []) records.push(this.#record(kind, item));
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    return records;
  }

  async commit(writes: readonly EmmWrite[]): Promise<boolean> {
    if (writes.length > MAX_EMM_WRITES) throw new CairnError(StatusCode.INTERNAL_ERROR, `a media manager commit of ${writes.length} writes exceeds ${MAX_EMM_WRITES}`);
    const TransactItems = writes.map((w) => {
      const Key = { pk: partition[w.kind], sk: w.key };
      const condition =
        w.expectVersion === 0
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': w.expectVersion } };
      return w.op === 'put'
        ? { Put: { TableName: this.#table, Item: { ...Key, version: w.expectVersion + 1, json: JSON.stringify(w.value) }, ...condition } }
        : { Delete: { TableName: this.#table, Key, ...condition } };
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.send(new TransactWriteCommand({ TransactItems }));
        return true;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (reasons.some((r) => r?.Code === 'ConditionalCheckFailed')) return false;
        if (!isRetryableCancellation(reasons)) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) throw new ConflictError(`a media manager commit on table ${this.#table} kept colliding with other transactions`, { cause: error, kind: 'contention' });
        await backoff(attempt);
      }
    }
  }

  #record(kind: EmmRecordKind, item: Record<string, unknown>): EmmRecord {
    return { kind, key: String(item.sk), version: numberAttribute(item.version) ?? 0, value: parseDocument(item, this.#table) };
  }
}

/** The media manager of the cloud runtime, on the Media table. */
export function dynamoMediaDatabase(options: DynamoStoreOptions): MediaDatabase {
  return new EmmDatabase(new DynamoEmmRecords(options));
}
