import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { type OpenStore, samplePolicy, sampleStorageUnit, describeContract } from './fixtures.ts';

export function describeConfigStoreContract(adapter: string, open: OpenStore<ConfigStore>, skipReason?: string): void {
  describeContract('ConfigStore', adapter, open, skipReason, (store) => {

    it('returns a policy exactly as it was put', async () => {
      const policy = samplePolicy();
      await store().putPolicy(policy);
      expect(await store().getPolicy(policy.name)).toEqual(policy);
    });

    it('replaces a policy put again under the same name', async () => {
      await store().putPolicy(samplePolicy('p1'));
      const changed = samplePolicy('p1', { priority: 7, active: false });
      await store().putPolicy(changed);
      expect(await store().getPolicy('p1')).toEqual(changed);
      expect(await store().listPolicies()).toHaveLength(1);
    });

    it('lists policies sorted by name', async () => {
      for (const name of ['weekly', 'alpha', 'daily']) await store().putPolicy(samplePolicy(name));
      expect((await store().listPolicies()).map((p) => p.name)).toEqual(['alpha', 'daily', 'weekly']);
    });

    it('answers undefined for an unknown policy and deletes idempotently', async () => {
      expect(await store().getPolicy('nope')).toBeUndefined();
      await store().putPolicy(samplePolicy('gone'));
      expect(await store().deletePolicy('gone')).toBe(true);
      expect(await store().deletePolicy('gone')).toBe(false);
      expect(await store().getPolicy('gone')).toBeUndefined();
    });

    it('keeps storage units apart from policies', async () => {
      const unit = sampleStorageUnit('disk1');
      await store().putStorageUnit(unit);
      await store().putPolicy(samplePolicy('disk1'));
      expect(await store().getStorageUnit('disk1')).toEqual(unit);
      expect((await store().listStorageUnits()).map((u) => u.name)).toEqual(['disk1']);
      expect(await store().getStorageUnit('other')).toBeUndefined();
    });

    it('keeps a storage unit\'s compression', async () => {
      const unit = { ...sampleStorageUnit('zdisk'), compression: { codec: 'zstd' as const, level: 3 } };
      await store().putStorageUnit(unit);
      expect(await store().getStorageUnit('zdisk')).toEqual(unit);
    });

    it('maps clients to managed instances: put, replace, list sorted by name, remove idempotently', async () => {
      expect(await store().getClient('web1')).toBeUndefined();
      await store().putClient({ name: 'web1', instanceId: 'mi-0123456789abcdef0' });
      await store().putClient({ name: 'db1', instanceId: 'i-0123456789abcdef0' });
      await store().putClient({ name: 'web1', instanceId: 'mi-00000000000000001' });
      expect(await store().getClient('web1')).toEqual({ name: 'web1', instanceId: 'mi-00000000000000001' });
      expect(await store().listClients()).toEqual([
        { name: 'db1', instanceId: 'i-0123456789abcdef0' },
        { name: 'web1', instanceId: 'mi-00000000000000001' },
      ]);
      expect(await store().deleteClient('web1')).toBe(true);
      expect(await store().deleteClient('web1')).toBe(false);
      expect((await store().listClients()).map((c) => c.name)).toEqual(['db1']);
    });

    it('keeps clients apart from policies, storage units and settings of the same name', async () => {
      await store().putClient({ name: 'same', instanceId: 'mi-0123456789abcdef0' });
      await store().putPolicy(samplePolicy('same'));
      await store().putStorageUnit(sampleStorageUnit('same'));
      await store().putSetting('same', 1);
      expect(await store().deletePolicy('same')).toBe(true);
      expect(await store().getClient('same')).toEqual({ name: 'same', instanceId: 'mi-0123456789abcdef0' });
      expect(await store().deleteClient('same')).toBe(true);
      expect(await store().getStorageUnit('same')).toEqual(sampleStorageUnit('same'));
      expect(await store().getSetting('same')).toBe(1);
    });

    it('stores settings as JSON values', async () => {
      expect(await store().getSetting('jobRetryDelaySeconds')).toBeUndefined();
      await store().putSetting('jobRetryDelaySeconds', 600);
      await store().putSetting('backupTries', { tries: 2, withinHours: 12 });
      expect(await store().getSetting('jobRetryDelaySeconds')).toBe(600);
      expect(await store().getSetting('backupTries')).toEqual({ tries: 2, withinHours: 12 });
    });

    describe('where adapters used to disagree', () => {
      it('unsets a setting put as undefined, and refuses a value JSON cannot hold', async () => {
        await store().putSetting('defaultStorageUnit', 'disk1');
        await store().putSetting('defaultStorageUnit', undefined);
        expect(await store().getSetting('defaultStorageUnit')).toBeUndefined();
        await store().putSetting('neverSet', undefined);
        expect(await store().getSetting('neverSet')).toBeUndefined();
        await expect(store().putSetting('broken', () => 1)).rejects.toBeInstanceOf(ValidationError);
        expect(await store().getSetting('broken')).toBeUndefined();
      });

      it('lists names in code point order (UTF-8 byte order), also beyond ASCII', async () => {
        // JavaScript's default sort puts U+1F600 (a surrogate pair) before U+FF21; code point order after.
        const names = ['\u{1F600}x', '\uFF21', 'b', '\u00E9', 'a'];
        for (const name of names) await store().putPolicy({ ...samplePolicy(), name });
        for (const name of names) await store().putStorageUnit({ ...sampleStorageUnit(), name });
        const expected = ['a', 'b', '\u00E9', '\uFF21', '\u{1F600}x'];
        expect((await store().listPolicies()).map((p) => p.name)).toEqual(expected);
        expect((await store().listStorageUnits()).map((u) => u.name)).toEqual(expected);
      });
    });
  });
}
