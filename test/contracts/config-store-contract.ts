import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { type OpenStore, type StoreFixture, samplePolicy, sampleStorageUnit } from './fixtures.ts';

export function describeConfigStoreContract(adapter: string, open: OpenStore<ConfigStore>, skipReason?: string): void {
  describe.skipIf(Boolean(skipReason))(`ConfigStore contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: StoreFixture<ConfigStore>;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture?.cleanup?.();
    });

    it('returns a policy exactly as it was put', async () => {
      const policy = samplePolicy();
      await fixture.store.putPolicy(policy);
      expect(await fixture.store.getPolicy(policy.name)).toEqual(policy);
    });

    it('replaces a policy put again under the same name', async () => {
      await fixture.store.putPolicy(samplePolicy('p1'));
      const changed = samplePolicy('p1', { priority: 7, active: false });
      await fixture.store.putPolicy(changed);
      expect(await fixture.store.getPolicy('p1')).toEqual(changed);
      expect(await fixture.store.listPolicies()).toHaveLength(1);
    });

    it('lists policies sorted by name', async () => {
      for (const name of ['weekly', 'alpha', 'daily']) await fixture.store.putPolicy(samplePolicy(name));
      expect((await fixture.store.listPolicies()).map((p) => p.name)).toEqual(['alpha', 'daily', 'weekly']);
    });

    it('answers undefined for an unknown policy and deletes idempotently', async () => {
      expect(await fixture.store.getPolicy('nope')).toBeUndefined();
      await fixture.store.putPolicy(samplePolicy('gone'));
      expect(await fixture.store.deletePolicy('gone')).toBe(true);
      expect(await fixture.store.deletePolicy('gone')).toBe(false);
      expect(await fixture.store.getPolicy('gone')).toBeUndefined();
    });

    it('keeps storage units apart from policies', async () => {
      const unit = sampleStorageUnit('disk1');
      await fixture.store.putStorageUnit(unit);
      await fixture.store.putPolicy(samplePolicy('disk1'));
      expect(await fixture.store.getStorageUnit('disk1')).toEqual(unit);
      expect((await fixture.store.listStorageUnits()).map((u) => u.name)).toEqual(['disk1']);
      expect(await fixture.store.getStorageUnit('other')).toBeUndefined();
    });

    it('stores settings as JSON values', async () => {
      expect(await fixture.store.getSetting('jobRetryDelaySeconds')).toBeUndefined();
      await fixture.store.putSetting('jobRetryDelaySeconds', 600);
      await fixture.store.putSetting('backupTries', { tries: 2, withinHours: 12 });
      expect(await fixture.store.getSetting('jobRetryDelaySeconds')).toBe(600);
      expect(await fixture.store.getSetting('backupTries')).toEqual({ tries: 2, withinHours: 12 });
    });
  });
}
