import { isDeepStrictEqual } from 'node:util';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, paginateQuery, paginateScan, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { byCodePoint } from '#core/code-point-order.ts';
import { assertBackupIdOf, checkedImageChange, differentImage, notExpired, uncataloguable } from '#core/catalog/catalog-refusals.ts';
import { makeBackupId } from '#core/ids.ts';
import { primaryCopy, type Image, type ImageClaim } from '#core/model/image.ts';
import { IMAGE_RECORD_VERSION, upgradeImageRecord } from '#core/catalog/image-versions.ts';
import type { CatalogStore, ImageQuery } from '#core/ports/catalog-store.ts';
import {
  MAX_OPTIMISTIC_ATTEMPTS,
  backoff,
  cancellationReasons,
  type CancellationReason,
  dynamoFailure,
  isConditionalCheckFailed,
  isRetryableCancellation,
  numberAttribute,
  parseDocument,
  type DynamoStoreOptions,
} from './dynamo-support.ts';

/** `<client>_<10-digit epoch seconds>`; the client part may itself contain `_`. */
const BACKUP_ID = /^(.+)_(\d{10})$/;

/** The partition of claims: no client name can start with `#`, so it never meets a client's images. */
const CLAIM = '#CLAIM';

/** An image item of any known version, as the current image record. */
function imageOf(item: Record<string, unknown>, table: string): Image {
  const version = numberAttribute(item.v) ?? 1;
  return upgradeImageRecord(parseDocument<unknown>(item, table), version);
}

/** The client a backup id belongs to; a ValidationError when it names another. */
function clientOf(backupId: string, client: string): string {
  assertBackupIdOf(backupId, client);
  return client;
}

/**
 * CatalogStore on the Catalog table.
 *
 * Item layouts:
 * - image: `{ pk: client, sk: backupId, v, policy, createdAt, json }`. A
 *   backup id ends in its epoch seconds, zero-padded, so a client's images
 *   sort by time inside its partition and a time range is a key condition.
 *   `policy` is copied out for the filter; `json` is the Image as JSON, in
 *   the image record version `v` (absent: 1, written before versions were
 *   recorded). Items of older versions are read as the current version, and
 *   every image written is written in the current one.
 * - claim: `{ pk: '#CLAIM', sk: backupId, jobId, json }`: an image being
 *   staged. Claiming checks the image item in the same transaction, and
 *   committing replaces the claim with the image in one transaction, so a
 *   backup id is held by one claim or one image, never two.
 */
export class DynamoCatalogStore implements CatalogStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async claimBackupId(claim: ImageClaim): Promise<boolean> {
    const client = clientOf(claim.backupId, claim.client);
    const refused = await this.#transact([
      { Put: { TableName: this.#table, Item: { pk: CLAIM, sk: claim.backupId, jobId: claim.jobId, json: JSON.stringify(claim) }, ConditionExpression: 'attribute_not_exists(pk)' } },
      { ConditionCheck: { TableName: this.#table, Key: { pk: client, sk: claim.backupId }, ConditionExpression: 'attribute_not_exists(pk)' } },
    ]);
    if (refused === undefined) return true;
    if (refused[1]?.Code === 'ConditionalCheckFailed') return false;
    // A claim exists: this job's own (a retried step) or another's.
    return (await this.#claimHolder(claim.backupId)) === claim.jobId;
  }

  async listClaims(): Promise<ImageClaim[]> {
    const claims: ImageClaim[] = [];
    try {
      const pages = paginateQuery({ client: this.#client }, { TableName: this.#table, KeyConditionExpression: 'pk = :claim', ExpressionAttributeValues: { ':claim': CLAIM }, ConsistentRead: true });
      for await (const page of pages) for (const item of page.Items ?? []) claims.push(parseDocument<ImageClaim>(item, this.#table)!);
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    return claims.sort((a, b) => byCodePoint(a.claimedAt, b.claimedAt) || byCodePoint(a.backupId, b.backupId));
  }

  async dropClaim(backupId: string, jobId: number): Promise<boolean> {
    try {
      await this.#client.send(
        new DeleteCommand({ TableName: this.#table, Key: { pk: CLAIM, sk: backupId }, ConditionExpression: 'jobId = :jobId', ExpressionAttributeValues: { ':jobId': jobId } }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw dynamoFailure('DeleteItem', this.#table, error);
    }
  }

  async putImage(image: Image): Promise<void> {
    const client = clientOf(image.backupId, image.client);
    const json = JSON.stringify(image);
    const refused = await this.#transact([
      { Put: { TableName: this.#table, Item: { pk: client, sk: image.backupId, v: IMAGE_RECORD_VERSION, policy: image.policy, createdAt: image.createdAt, json }, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Delete: { TableName: this.#table, Key: { pk: CLAIM, sk: image.backupId }, ConditionExpression: 'jobId = :jobId', ExpressionAttributeValues: { ':jobId': image.jobId } } },
    ]);
    if (refused === undefined) return;
    // A record exists: the same one is a retried Catalog step, a different one is a conflict.
    const existing = await this.#getItem(client, image.backupId);
    if (typeof existing?.json === 'string') {
      // Compared as records of the current version: an item an older version wrote holds the same image in its own layout.
      if (isDeepStrictEqual(imageOf(existing, this.#table), JSON.parse(json))) return;
      throw differentImage(image.backupId);
    }
    const holder = await this.#claimHolder(image.backupId);
    throw uncataloguable(image, holder);
  }

  async withdrawImage(backupId: string, at: Date): Promise<boolean> {
    const image = await this.getImage(backupId);
    if (image === undefined) return false;
    // The claim owns the data the job wrote: its primary copy.
    const claim: ImageClaim = { backupId, jobId: image.jobId, client: image.client, storageUnit: primaryCopy(image).storageUnit, claimedAt: at.toISOString() };
    const refused = await this.#transact([
      { Delete: { TableName: this.#table, Key: { pk: image.client, sk: backupId }, ConditionExpression: 'attribute_exists(pk)' } },
      { Put: { TableName: this.#table, Item: { pk: CLAIM, sk: backupId, jobId: image.jobId, json: JSON.stringify(claim) }, ConditionExpression: 'attribute_not_exists(pk)' } },
    ]);
    // Refused: withdrawn meanwhile by somebody else; the image is gone and its claim stands, as asked.
    return refused === undefined;
  }

  async getImage(backupId: string): Promise<Image | undefined> {
    const client = BACKUP_ID.exec(backupId)?.[1];
    if (client === undefined) return undefined;
    const item = await this.#getItem(client, backupId);
    return item === undefined ? undefined : imageOf(item, this.#table);
  }

  async updateImage(backupId: string, change: (image: Image) => Image | undefined): Promise<Image | undefined> {
    const client = BACKUP_ID.exec(backupId)?.[1];
    if (client === undefined) return undefined;
    for (let attempt = 1; ; attempt++) {
      const item = await this.#getItem(client, backupId);
      if (item === undefined) return undefined;
      const image = imageOf(item, this.#table);
      const changed = change(image);
      if (changed === undefined || isDeepStrictEqual(changed, image)) return image;
      const next = checkedImageChange(image, changed);
      try {
        // Conditional on the item read (its json and version): a concurrent change makes this one apply again to the fresh record.
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: { pk: client, sk: backupId, v: IMAGE_RECORD_VERSION, policy: next.policy, createdAt: next.createdAt, json: JSON.stringify(next) },
            ConditionExpression: '#json = :json AND ' + (item.v === undefined ? 'attribute_not_exists(v)' : 'v = :v'),
            ExpressionAttributeNames: { '#json': 'json' },
            ExpressionAttributeValues: { ':json': item.json, ...(item.v === undefined ? {} : { ':v': item.v }) },
          }),
        );
        return next;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw dynamoFailure('PutItem', this.#table, error);
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) throw dynamoFailure('PutItem', this.#table, error);
        await backoff(attempt);
      }
    }
  }

  async removeExpiredImage(backupId: string): Promise<boolean> {
    const client = BACKUP_ID.exec(backupId)?.[1];
    if (client === undefined) return false;
    const item = await this.#getItem(client, backupId);
    if (item === undefined) return false;
    const image = imageOf(item, this.#table);
    if (image.state !== 'EXPIRED') throw notExpired(image);
    try {
      // Conditional on the EXPIRED record read: a record changed meanwhile is looked at again.
      await this.#client.send(new DeleteCommand({ TableName: this.#table, Key: { pk: client, sk: backupId }, ConditionExpression: '#json = :json', ExpressionAttributeNames: { '#json': 'json' }, ExpressionAttributeValues: { ':json': item.json } }));
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return this.removeExpiredImage(backupId);
      throw dynamoFailure('DeleteItem', this.#table, error);
    }
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
        for await (const page of pages) for (const item of page.Items ?? []) images.push(imageOf(item, this.#table));
      } else {
        const pages = paginateScan(
          { client: this.#client },
          { TableName: this.#table, ...policyFilter, ...(query.policy === undefined ? {} : { ExpressionAttributeValues: values }), ConsistentRead: true },
        );
        // Claims share the table; they are never listed as images.
        for await (const page of pages) for (const item of page.Items ?? []) if (item.pk !== CLAIM) images.push(imageOf(item, this.#table));
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

  /**
   * Runs one transaction; a loss to a concurrent transaction is run again.
   * Resolves undefined when it committed, or with the per-item reasons when
   * a condition refused it (nothing was written then).
   */
  async #transact(items: NonNullable<TransactWriteCommandInput['TransactItems']>): Promise<CancellationReason[] | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.send(new TransactWriteCommand({ TransactItems: items }));
        return undefined;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons === undefined) throw dynamoFailure('TransactWriteItems', this.#table, error);
        if (!isRetryableCancellation(reasons)) return reasons;
        if (attempt >= MAX_OPTIMISTIC_ATTEMPTS) throw dynamoFailure('TransactWriteItems', this.#table, error);
        await backoff(attempt);
      }
    }
  }

  async #claimHolder(backupId: string): Promise<number | undefined> {
    return numberAttribute((await this.#getItem(CLAIM, backupId))?.jobId);
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
