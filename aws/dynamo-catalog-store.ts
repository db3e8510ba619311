import { isDeepStrictEqual } from 'node:util';
import { GetCommand, PutCommand, paginateQuery, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '#core/errors.ts';
import { makeBackupId } from '#core/ids.ts';
import type { Image } from '#core/model/image.ts';
import type { CatalogStore, ImageQuery } from '#core/ports/catalog-store.ts';
import { conditionFailureItem, dynamoFailure, isConditionalCheckFailed, parseDocument, type DynamoStoreOptions } from './dynamo-support.ts';

/** `<client>_<10-digit epoch seconds>`; the client part may itself contain `_`. */
const BACKUP_ID = /^(.+)_(\d{10})$/;

/**
 * CatalogStore on the Catalog table.
 *
 * Item layout: `{ pk: client, sk: backupId, policy, createdAt, json }`. A
 * backup id ends in its epoch seconds, zero-padded, so a client's images sort
 * by time inside its partition and a time range is a key condition. `policy`
 * is copied out for the filter; `json` is the Image as JSON.
 */
export class DynamoCatalogStore implements CatalogStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async putImage(image: Image): Promise<void> {
    const client = BACKUP_ID.exec(image.backupId)?.[1];
    if (client !== image.client) {
      throw new ValidationError('invalid image', [`backupId: ${image.backupId} does not belong to client ${image.client} (expected ${image.client}_<epochSeconds>)`]);
    }
    const json = JSON.stringify(image);
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: image.client, sk: image.backupId, policy: image.policy, createdAt: image.createdAt, json },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw dynamoFailure('PutItem', this.#table, error);
      // A record exists: the same one is a retried Catalog step, a different one is a conflict.
      const existingJson = conditionFailureItem(error)?.json?.S ?? (await this.#getItem(image.client, image.backupId))?.json;
      const existing: unknown = typeof existingJson === 'string' ? JSON.parse(existingJson) : undefined;
      if (existing === undefined || !isDeepStrictEqual(existing, JSON.parse(json))) {
        throw new ConflictError(`the catalog already holds a different image ${image.backupId}`, { cause: error });
      }
    }
  }

  async getImage(backupId: string): Promise<Image | undefined> {
    const client = BACKUP_ID.exec(backupId)?.[1];
    if (client === undefined) return undefined;
    return parseDocument<Image>(await this.#getItem(client, backupId), this.#table);
  }

  async listImages(query: ImageQuery = {}): Promise<Image[]> {
    const from = query.from?.getTime() ?? -Infinity;
    const to = query.to?.getTime() ?? Infinity;
    if (from > to) return [];
    const policyFilter =
      query.policy === undefined ? {} : { FilterExpression: '#policy = :policy', ExpressionAttributeNames: { '#policy': 'policy' } };
    const values: Record<string, unknown> = query.policy === undefined ? {} : { ':policy': query.policy };
    const images: Image[] = [];
    try {
      if (query.client !== undefined) {
        // Backup ids carry whole seconds, so the key range is a superset of [from, to];
        // createdAt decides exactly below.
        const range: string[] = [];
        values[':client'] = query.client;
        if (query.from !== undefined) {
          values[':from'] = makeBackupId(query.client, query.from);
          range.push('sk >= :from');
        }
        if (query.to !== undefined) {
          values[':to'] = makeBackupId(query.client, query.to);
          range.push('sk <= :to');
        }
        const keyCondition = range.length === 2 ? 'pk = :client AND sk BETWEEN :from AND :to' : ['pk = :client', ...range].join(' AND ');
        const pages = paginateQuery(
          { client: this.#client },
          { TableName: this.#table, KeyConditionExpression: keyCondition, ExpressionAttributeValues: values, ...policyFilter, ScanIndexForward: false, ConsistentRead: true },
        );
        for await (const page of pages) for (const item of page.Items ?? []) images.push(parseDocument<Image>(item, this.#table)!);
      } else {
        const pages = paginateScan(
          { client: this.#client },
          { TableName: this.#table, ...policyFilter, ...(query.policy === undefined ? {} : { ExpressionAttributeValues: values }), ConsistentRead: true },
        );
        for await (const page of pages) for (const item of page.Items ?? []) images.push(parseDocument<Image>(item, this.#table)!);
      }
    } catch (error) {
      throw dynamoFailure(query.client === undefined ? 'Scan' : 'Query', this.#table, error);
    }
    return images
      .filter((image) => {
        const at = Date.parse(image.createdAt);
        return at >= from && at <= to;
      })
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0));
  }

  async #getItem(client: string, backupId: string): Promise<Record<string, unknown> | undefined> {
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: client, sk: backupId }, ConsistentRead: true }));
      return out.Item;
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }
}
