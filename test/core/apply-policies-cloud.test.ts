import { describe, expect, it } from 'vitest';
import { applyPolicies } from '#core/policies/apply-policies.ts';
import { ValidationError } from '#core/errors.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { memoryStores } from '#test/memory/memory-stores.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const catalogBackup = (storageUnit?: string) => ({ frequency: 86_400, windows: [{ days: [...everyDay], start: '00:00', duration: 3600 }], ...(storageUnit ? { storageUnit } : {}) });

describe('a policy applied to a deployed stack (cloud) with a catalog backup', () => {
  it('is refused with the field and the reason when its catalog backup would go to a disk or tape unit, and accepted on an S3 unit', async () => {
    const { config } = memoryStores();
    await config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/srv/cairn' }));
    await config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: 'cairn-images', prefix: 'site1' }));
    const onDisk = samplePolicy('p1', { storageUnit: 'disk1', catalogBackup: catalogBackup() });
    const error = await applyPolicies(config, [onDisk], { cloud: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details).toEqual([
      'document 1 (p1): catalogBackup (the policy\'s storageUnit): storage unit "disk1" is a disk unit on an agent\'s host, which the cloud\'s catalog-job Lambda cannot reach: name an S3 unit for the catalog backup',
    ]);
    expect(await config.getPolicy('p1')).toBeUndefined();
    // The standalone runtime backs its catalog up to a disk unit as before.
    expect(await applyPolicies(config, [onDisk])).toEqual([{ policy: 'p1', action: 'created' }]);
    expect(await applyPolicies(config, [samplePolicy('p2', { storageUnit: 'disk1', catalogBackup: catalogBackup('s3-unit') })], { cloud: true })).toEqual([{ policy: 'p2', action: 'created' }]);
  });
});
