import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { assertKeyPrefix } from '#core/ports/object-store.ts';
import type { StoredObject } from '#core/ports/storage-inventory.ts';

/** A partial upload's name (fs-object-store.ts): its writer's, never listed. */
const PARTIAL_PATTERN = /\.cairn-partial-[0-9a-f]{16}$/;

/**
 * The objects of a disk unit under `prefix`, with sizes and mtimes (the
 * catalog check's StorageInventory). Walks the directory as FsObjectStore
 * lists it (hand-written for the stat it needs, which `list` does not give):
 * regular files only, partial uploads left out, symbolic links not followed.
 */
export async function listDiskObjects(root: string, prefix: string): Promise<StoredObject[]> {
  assertKeyPrefix(prefix);
  const slash = prefix.lastIndexOf('/');
  const base = slash === -1 ? '' : prefix.slice(0, slash);
  const found: StoredObject[] = [];
  await walk(path.join(path.resolve(root), ...base.split('/').filter(Boolean)), base, prefix, found);
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function walk(dir: string, dirKey: string, prefix: string, into: StoredObject[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  for (const entry of entries) {
    const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(path.join(dir, entry.name), key, prefix, into);
    } else if (entry.isFile() && !PARTIAL_PATTERN.test(entry.name) && key.startsWith(prefix)) {
      // Gone between the readdir and the stat (deleted meanwhile): not there.
      const stat = await lstat(path.join(dir, entry.name)).catch(() => undefined);
      if (stat?.isFile()) into.push({ key, bytes: stat.size, modifiedAt: stat.mtime.toISOString() });
    }
  }
}
