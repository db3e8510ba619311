import { describe, expect, it } from 'vitest';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';

describe('openStorageUnit', () => {
  it('opens a disk unit as a directory store rooted at its path', async () => {
    const store = await openStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/var/cairn/disk1' }));
    expect(store).toBeInstanceOf(FsObjectStore);
    expect((store as FsObjectStore).root).toBe('/var/cairn/disk1');
  });

  it('opens an S3 unit as a bucket store', async () => {
    const store = await openStorageUnit(StorageUnit.parse({ name: 's3a', kind: 's3', bucket: 'cairn-images', prefix: 'site1' }));
    expect(store).toBeInstanceOf(S3ObjectStore);
  });
});
