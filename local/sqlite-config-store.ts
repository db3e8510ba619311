import { settingJson, type ConfigStore } from '#core/ports/config-store.ts';
import type { Client } from '#core/model/client.ts';
import type { Policy } from '#core/model/policy.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

// One table of (kind, name, value) rows: a new kind (CLIENT) needs no schema change and no migration.
type Kind = 'POLICY' | 'STU' | 'SETTING' | 'CLIENT';

export class SqliteConfigStore implements ConfigStore {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  #put(kind: Kind, name: string, value: unknown): void {
    this.#db.prepare('INSERT INTO config (kind, name, value) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value').run(kind, name, JSON.stringify(value));
  }
  #get<T>(kind: Kind, name: string): T | undefined {
    const row = this.#db.prepare('SELECT value FROM config WHERE kind = ? AND name = ?').get(kind, name) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }
  #list<T>(kind: Kind): T[] {
    // BINARY collation compares UTF-8 bytes: code point order, as the port asks.
    const rows = this.#db.prepare('SELECT value FROM config WHERE kind = ? ORDER BY name').all(kind) as { value: string }[];
    return rows.map((r) => JSON.parse(r.value) as T);
  }

  async putPolicy(policy: Policy): Promise<void> {
    this.#put('POLICY', policy.name, policy);
  }
  async getPolicy(name: string): Promise<Policy | undefined> {
    return this.#get('POLICY', name);
  }
  async listPolicies(): Promise<Policy[]> {
    return this.#list('POLICY');
  }
  async deletePolicy(name: string): Promise<boolean> {
    return this.#db.prepare("DELETE FROM config WHERE kind = 'POLICY' AND name = ?").run(name).changes > 0;
  }
  async putStorageUnit(unit: StorageUnit): Promise<void> {
    this.#put('STU', unit.name, unit);
  }
  async getStorageUnit(name: string): Promise<StorageUnit | undefined> {
    return this.#get('STU', name);
  }
  async listStorageUnits(): Promise<StorageUnit[]> {
    return this.#list('STU');
  }
  async putClient(client: Client): Promise<void> {
    this.#put('CLIENT', client.name, client);
  }
  async getClient(name: string): Promise<Client | undefined> {
    return this.#get('CLIENT', name);
  }
  async listClients(): Promise<Client[]> {
    return this.#list('CLIENT');
  }
  async deleteClient(name: string): Promise<boolean> {
    return this.#db.prepare("DELETE FROM config WHERE kind = 'CLIENT' AND name = ?").run(name).changes > 0;
  }
  async getSetting(key: string): Promise<unknown> {
    return this.#get('SETTING', key);
  }
  async putSetting(key: string, value: unknown): Promise<void> {
    const json = settingJson(key, value);
    if (json === undefined) this.#db.prepare("DELETE FROM config WHERE kind = 'SETTING' AND name = ?").run(key);
    else this.#put('SETTING', key, value);
  }
}
