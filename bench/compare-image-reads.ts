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
import { readIndex } from '#agent/image/index-reader.ts';
import type { IndexEntry } from '#core/model/task.ts';

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

/** How an image stored one file: its member's bytes in the fragment (up to the next member), and the image holding its unchanged blocks when it is a block diff. */
export interface StoredMember {
  memberBytes: number;
  unchangedBlocksIn?: string;
}

/** Reads `backupId`'s verified index and measures the member of `file` (its span up to the next member or the end of its fragment's archive). */
export async function storedMemberOf(home: string, backupId: string, file: string): Promise<StoredMember | undefined> {
  const runtime = await openLocalRuntime({ home });
  try {
    const image = await runtime.catalog.getImage(backupId);
    if (!image) throw new Error(`image ${backupId} is not in the catalog of ${home}`);
    const copy = primaryCopy(image);
    const unit = await runtime.config.getStorageUnit(copy.storageUnit);
    if (!unit) throw new Error(`storage unit of ${backupId} is missing`);
    let found: IndexEntry | undefined;
    let next: number | undefined;
    for await (const entry of readIndex(await openStorageUnit(unit), copy.indexKey, copy.indexSha256)) {
      if (found && entry.fragment === found.fragment && entry.fromBackupId === undefined) {
        next = entry.offset;
        break;
      }
      if (entry.path === file && entry.fromBackupId === undefined) found = entry;
    }
    if (!found) return undefined;
    const fragment = copy.fragments.find((f) => f.number === found.fragment)!;
    const end = next ?? fragment.encoding?.tarBytes ?? fragment.bytes;
    return { memberBytes: end - found.offset, ...(found.unchangedBlocksIn ? { unchangedBlocksIn: found.unchangedBlocksIn } : {}) };
  } finally {
    runtime.close();
  }
}
