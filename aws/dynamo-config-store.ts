import { DeleteCommand, GetCommand, PutCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '#core/errors.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { settingJson, type ConfigStore } from '#core/ports/config-store.ts';
import type { Client } from '#core/model/client.ts';
import type { Policy } from '#core/model/policy.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { dynamoFailure, parseDocument, type DynamoStoreOptions } from './dynamo-support.ts';

type Kind = 'POLICY' | 'STU' | 'SETTING' | 'CLIENT';

/**
 * ConfigStore on the Config table.
 *
 * Item layout: `{ pk: 'POLICY' | 'STU' | 'SETTING' | 'CLIENT', sk: name, json }` where
 * `json` is the value exactly as put, serialised as JSON (so nothing depends on
 * the document client's marshalling options, and a value comes back as it went in).
 * One partition per kind keeps "all policies sorted by name" a single Query.
 */
export class DynamoConfigStore implements ConfigStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: DynamoStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  putPolicy(policy: Policy): Promise<void> {
    return this.#put('POLICY', policy.name, policy);
  }

  getPolicy(name: string): Promise<Policy | undefined> {
    return this.#get<Policy>('POLICY', name);
  }

  listPolicies(): Promise<Policy[]> {
    return this.#list<Policy>('POLICY');
  }

  deletePolicy(name: string): Promise<boolean> {
    return this.#delete('POLICY', name);
  }

  putStorageUnit(unit: StorageUnit): Promise<void> {
    return this.#put('STU', unit.name, unit);
  }

  getStorageUnit(name: string): Promise<StorageUnit | undefined> {
    return this.#get<StorageUnit>('STU', name);
  }

  listStorageUnits(): Promise<StorageUnit[]> {
    return this.#list<StorageUnit>('STU');
  }

  putClient(client: Client): Promise<void> {
    return this.#put('CLIENT', client.name, client);
  }

  getClient(name: string): Promise<Client | undefined> {
    return this.#get<Client>('CLIENT', name);
  }

  listClients(): Promise<Client[]> {
    return this.#list<Client>('CLIENT');
  }

  deleteClient(name: string): Promise<boolean> {
    return this.#delete('CLIENT', name);
  }

  getSetting(key: string): Promise<unknown> {
    return this.#get<unknown>('SETTING', key);
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    if (settingJson(key, value) !== undefined) return this.#put('SETTING', key, value);
    try {
      await this.#client.send(new DeleteCommand({ TableName: this.#table, Key: { pk: 'SETTING', sk: key } }));
    } catch (error) {
      throw dynamoFailure('DeleteItem', this.#table, error);
    }
  }

  async #delete(kind: Kind, name: string): Promise<boolean> {
    try {
      const out = await this.#client.send(new DeleteCommand({ TableName: this.#table, Key: { pk: kind, sk: name }, ReturnValues: 'ALL_OLD' }));
      return out.Attributes !== undefined;
    } catch (error) {
      throw dynamoFailure('DeleteItem', this.#table, error);
    }
  }

  async #put(kind: Kind, name: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new ValidationError(`invalid ${kind.toLowerCase()} value`, [`${name}: the value must be representable as JSON`]);
    try {
      await this.#client.send(new PutCommand({ TableName: this.#table, Item: { pk: kind, sk: name, json } }));
    } catch (error) {
      throw dynamoFailure('PutItem', this.#table, error);
    }
  }

  async #get<T>(kind: Kind, name: string): Promise<T | undefined> {
    try {
      const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: { pk: kind, sk: name }, ConsistentRead: true }));
      return parseDocument<T>(out.Item, this.#table);
    } catch (error) {
      throw dynamoFailure('GetItem', this.#table, error);
    }
  }

  async #list<T extends { name: string }>(kind: Kind): Promise<T[]> {
    const values: T[] = [];
    try {
      const pages = paginateQuery(
        { client: this.#client },
        { TableName: this.#table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': kind }, ConsistentRead: true },
      );
      for await (const page of pages) for (const item of page.Items ?? []) values.push(parseDocument<T>(item, this.#table)!);
    } catch (error) {
      throw dynamoFailure('Query', this.#table, error);
    }
    // DynamoDB returns sort-key order (UTF-8 bytes) already; the sort states the port's order.
    return values.sort((a, b) => byCodePoint(a.name, b.name));
  }
}
