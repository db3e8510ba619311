import { byCodePoint } from '#core/code-point-order.ts';
import type { Client } from '#core/model/client.ts';
import type { Policy } from '#core/model/policy.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { settingJson, type ConfigStore } from '#core/ports/config-store.ts';
import { io, stored } from './copy.ts';

/** ConfigStore in memory, for tests and benchmarks only (see README.md). */
export class MemoryConfigStore implements ConfigStore {
  readonly #policies = new Map<string, Policy>();
  readonly #units = new Map<string, StorageUnit>();
  readonly #settings = new Map<string, string>();
  readonly #clients = new Map<string, Client>();

  async putPolicy(policy: Policy): Promise<void> {
    await io();
    this.#policies.set(policy.name, stored(policy));
  }
  async getPolicy(name: string): Promise<Policy | undefined> {
    await io();
    return copyOf(this.#policies.get(name));
  }
  async listPolicies(): Promise<Policy[]> {
    await io();
    return sortedByName(this.#policies);
  }
  async deletePolicy(name: string): Promise<boolean> {
    await io();
    return this.#policies.delete(name);
  }
  async putStorageUnit(unit: StorageUnit): Promise<void> {
    await io();
    this.#units.set(unit.name, stored(unit));
  }
  async getStorageUnit(name: string): Promise<StorageUnit | undefined> {
    await io();
    return copyOf(this.#units.get(name));
  }
  async listStorageUnits(): Promise<StorageUnit[]> {
    await io();
    return sortedByName(this.#units);
  }
  async putClient(client: Client): Promise<void> {
    await io();
    this.#clients.set(client.name, stored(client));
  }
  async getClient(name: string): Promise<Client | undefined> {
    await io();
    return copyOf(this.#clients.get(name));
  }
  async listClients(): Promise<Client[]> {
    await io();
    return sortedByName(this.#clients);
  }
  async deleteClient(name: string): Promise<boolean> {
    await io();
    return this.#clients.delete(name);
  }
  async getSetting(key: string): Promise<unknown> {
    await io();
    const json = this.#settings.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  }
  async putSetting(key: string, value: unknown): Promise<void> {
    const json = settingJson(key, value);
    await io();
    if (json === undefined) this.#settings.delete(key);
    else this.#settings.set(key, json);
  }
}

function copyOf<T>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : stored(value);
}

function sortedByName<T extends { name: string }>(values: Map<string, T>): T[] {
  return [...values.values()].sort((a, b) => byCodePoint(a.name, b.name)).map(stored);
}
