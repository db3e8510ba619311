import type { Policy } from '../model/policy.ts';
import type { StorageUnit } from '../model/storage-unit.ts';

/**
 * Policies, storage units and global settings (bpconfig). Values are stored
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

  /** A global setting as JSON, or undefined when never set. */
  getSetting(key: string): Promise<unknown>;
  putSetting(key: string, value: unknown): Promise<void>;
}
