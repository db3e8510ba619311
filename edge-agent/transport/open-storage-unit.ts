import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { FsObjectStore } from '../disk/fs-object-store.ts';

export type S3StorageUnit = Extract<StorageUnit, { kind: 's3' }>;

/**
 * The StorageUnitOpener (core/ports/storage-unit-opener.ts) of every
 * runtime: a disk unit is a directory the agent writes itself (the disk
 * media manager, `disk/`); a tape unit's store is that of its `index` unit
 * (its indexes and manifests; the fragments go to tape through fragment
 * sinks); an S3 unit's object store comes from `openS3`,
 * which the composition root gives (cairn-agent's main.ts, the standalone
 * runtime's local/open-storage-unit.ts), so the agent never imports the AWS
 * SDK itself and an agent that writes to disk starts without it.
 */
export function storageUnitOpener(openS3: (unit: S3StorageUnit) => Promise<ObjectStore>): StorageUnitOpener {
  return async (unit) => {
    switch (unit.kind) {
      case 'disk':
        return new FsObjectStore(unit.path);
      case 's3':
        return openS3(unit);
      case 'tape':
        // Its fragments are tape files, read and written through a mounted volume; its object store is where its indexes and manifests are.
        return unit.index.kind === 'disk' ? new FsObjectStore(unit.index.path) : openS3(unit.index);
    }
  };
}
