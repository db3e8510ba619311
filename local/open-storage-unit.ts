import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { storageUnitOpener } from '#agent/transport/open-storage-unit.ts';

/**
 * The standalone runtime's StorageUnitOpener, handed to the agent by the job
 * engine, the janitor and the CLI (restore, ls, demo): disk units through
 * the agent's own disk store, S3 units through the S3 adapter, loaded only
 * when an S3 unit is opened (the one aws/ module local/ may reach; see
 * .dependency-cruiser.js).
 */
export const openStorageUnit: StorageUnitOpener = storageUnitOpener(async (unit) => {
  const { s3StorageUnitStore } = await import('#aws/s3-object-store.ts');
  return s3StorageUnitStore(unit);
});
