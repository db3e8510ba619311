import type { Client } from '../model/client.ts';
import type { Policy } from '../model/policy.ts';
import { ValidationError } from '../errors.ts';
import type { StorageUnit } from '../model/storage-unit.ts';

/**
 * Policies, storage units, clients and global settings (bpconfig). Values are stored
 * whole and returned exactly as put; writers validate before calling.
 * Every method is idempotent and safe to retry.
 */
export interface ConfigStore {
  /** Creates or replaces the policy of that name. */
  putPolicy(policy: Policy): Promise<void>;
  getPolicy(name: string): Promise<Policy | undefined>;
  /** All policies, sorted by name. */
  listPolicies(): Promise<Policy[]>;
  /** True when a policy was deleted, false when there was none. */
  deletePolicy(name: string): Promise<boolean>;

  putStorageUnit(unit: StorageUnit): Promise<void>;
  getStorageUnit(name: string): Promise<StorageUnit | undefined>;
  /** All storage units, sorted by name. */
  listStorageUnits(): Promise<StorageUnit[]>;

  /** Creates or replaces the client of that name (its managed instance). */
  putClient(client: Client): Promise<void>;
  getClient(name: string): Promise<Client | undefined>;
  /** All clients, sorted by name. */
  listClients(): Promise<Client[]>;
  /** True when a client was removed, false when there was none. */
  deleteClient(name: string): Promise<boolean>;

  /** A global setting as JSON, or undefined when never set (or unset). */
  getSetting(key: string): Promise<unknown>;
  /**
   * Stores a JSON value. `undefined` unsets the setting, so it reads as never
   * set (an optional setting without a value); a value JSON cannot hold (a
   * function, a symbol) is refused with ValidationError.
   */
  putSetting(key: string, value: unknown): Promise<void>;
}

/** A setting's stored form: its JSON, or undefined to unset it; ValidationError for what JSON cannot hold. */
export function settingJson(key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new ValidationError('invalid setting value', [`${key}: the value must be representable as JSON`]);
  return json;
}
