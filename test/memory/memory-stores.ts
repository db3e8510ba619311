import { FakeClock } from '#core/ports/clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { MemoryConfigStore } from './memory-config-store.ts';
import { MemoryJobStore } from './memory-job-store.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';
import { MemoryMediaStore } from './memory-media-store.ts';

export interface MemoryStores {
  config: MemoryConfigStore;
  jobs: MemoryJobStore;
  catalog: MemoryCatalogStore;
  media: MemoryMediaStore;
  clock: FakeClock;
  /** What the job engine records as the owner of the jobs it runs. */
  owner: string;
}

/** A fresh, empty set of stores and a clock, in the shape the core services and the job engine take. */
export function memoryStores(start: Date | string = '2026-11-23T02:00:00Z'): MemoryStores {
  return {
    config: new MemoryConfigStore(),
    jobs: new MemoryJobStore(),
    catalog: new MemoryCatalogStore(),
    media: new MemoryMediaStore(),
    clock: new FakeClock(start),
    owner: 'memory:test',
  };
}

/**
 * The configuration a fresh standalone home starts with: one disk storage
 * unit `local-disk`, the default. Its path is never opened by the core.
 */
export async function withLocalDisk<S extends MemoryStores>(stores: S): Promise<S> {
  await stores.config.putStorageUnit(StorageUnit.parse({ name: 'local-disk', kind: 'disk', path: '/nonexistent/cairn/local-disk' }));
  await stores.config.putSetting('defaultStorageUnit', 'local-disk');
  return stores;
}
