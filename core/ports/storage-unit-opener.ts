import type { StorageUnit } from '../model/storage-unit.ts';
import type { ObjectStore } from './object-store.ts';

/**
 * Opens the object store behind a storage unit: a directory for a disk unit,
 * a bucket prefix for an S3 unit. The agent reads and writes storage only
 * through the opener its entry point gives it (edge-agent/transport/main.ts,
 * the standalone job engine, the CLI), so it never picks an adapter itself.
 * The implementation is edge-agent/transport/open-storage-unit.ts's
 * storageUnitOpener, given the S3 adapter by each composition root
 * (cairn-agent's main.ts, local/open-storage-unit.ts).
 */
export type StorageUnitOpener = (unit: StorageUnit) => Promise<ObjectStore>;
