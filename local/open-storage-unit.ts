import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { FsObjectStore } from './fs-object-store.ts';

/**
 * The StorageUnitOpener (core/ports/storage-unit-opener.ts) of both runtimes:
 * a directory for a disk unit, a bucket prefix for an S3 unit. The standalone
 * job engine, its janitor, the CLI and the cairn-agent entry point hand it to
 * the agent. The S3 adapter (and with it the AWS SDK) is loaded only when an
 * S3 unit is opened, so a runtime or an agent that writes to disk starts
 * without it; it is the one aws/ module local/ may reach (see .dependency-cruiser.js).
 */
export async function openStorageUnit(unit: StorageUnit): Promise<ObjectStore> {
  switch (unit.kind) {
    case 'disk':
      return new FsObjectStore(unit.path);
    case 's3': {
      const { S3ObjectStore } = await import('#aws/s3-object-store.ts');
      return new S3ObjectStore({ bucket: unit.bucket, prefix: unit.prefix });
    }
  }
}
