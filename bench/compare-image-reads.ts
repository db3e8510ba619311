/**
 * How many bytes of image data Cairn reads to restore one file: the restore
 * of `bench:compare`'s single-file case run again, untimed, with the storage
 * unit's object store wrapped so that every byte `get` hands out is counted,
 * ranged reads by what they return (fragments, index and manifest alike,
 * fragments also on their own). The goal is ≤ 2 MiB for a 1 MiB file.
 */
import type { ObjectStore } from '#core/ports/object-store.ts';
import { primaryCopy } from '#core/model/image.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';

/** What the one-file restore read: all of it, and the fragments' share (the rest is the index and the manifest). */
export interface ImageBytesRead {
  bytes: number;
  fragmentBytes: number;
}

/** A store whose `get` bodies count what they yield; everything else passes through. */
function countingStore(store: ObjectStore, counter: ImageBytesRead): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'get') {
        return async (key: string, range?: { start: number; end?: number }) => {
          const body = await target.get(key, range);
          return (async function* () {
            for await (const chunk of body) {
              counter.bytes += chunk.byteLength;
              if (/\/fragment-\d+\.tar(\.zst)?$/.test(key)) counter.fragmentBytes += chunk.byteLength;
              yield chunk;
            }
          })();
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export async function imageBytesReadForOneFile(home: string, backupId: string, file: string, targetDir: string): Promise<ImageBytesRead> {
  const runtime = await openLocalRuntime({ home });
  try {
    const image = await runtime.catalog.getImage(backupId);
    if (!image) throw new Error(`image ${backupId} is not in the catalog of ${home}`);
    const unit = await runtime.config.getStorageUnit(primaryCopy(image).storageUnit);
    if (!unit) throw new Error(`storage unit of ${backupId} is missing`);
    const counter = { bytes: 0, fragmentBytes: 0 };
    await restoreImage({ store: countingStore(await openStorageUnit(unit), counter), image, targetDir, paths: [file] });
    return counter;
  } finally {
    runtime.close();
  }
}
