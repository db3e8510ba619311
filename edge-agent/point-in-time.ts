import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { readIndex } from './index-reader.ts';
import { readManifest } from './manifest.ts';
import { restoreImage, type RestoreResult } from './restore.ts';
import { pathSelector } from './safe-path.ts';

export interface PointInTimeOptions {
  /** The image that shows the tree at the chosen time (see core imageAt). */
  image: Image;
  /** Opens the image a backup id names, with its store: the final image and those its unchanged files point at. */
  openImage: (backupId: string) => Promise<{ image: Image; store: ObjectStore }>;
  targetDir: string;
  paths?: string[];
}

/**
 * Rebuilds a tree exactly as it was when `image` was taken: its index lists
 * every path present then, so deleted files stay deleted and a renamed file
 * appears once, under its new name. Unchanged files of an incremental come
 * from the earlier images their index lines name; those are restored first,
 * the final image last, so its directory modes and times win.
 */
export async function restorePointInTime(options: PointInTimeOptions): Promise<RestoreResult & { images: string[] }> {
  const final = await options.openImage(options.image.backupId);
  const manifest = await readManifest(final.store, final.image.manifestKey);
  const selected = options.paths === undefined ? () => true : pathSelector(options.paths);
  const fromEarlier = new Map<string, Set<string>>();
  for await (const entry of readIndex(final.store, manifest.indexKey, manifest.indexSha256)) {
    if (entry.fromBackupId === undefined || !selected(entry.path)) continue;
    let paths = fromEarlier.get(entry.fromBackupId);
    if (!paths) fromEarlier.set(entry.fromBackupId, (paths = new Set()));
    paths.add(entry.path);
  }
  const total: RestoreResult & { images: string[] } = { files: 0, bytes: 0, refused: [], verified: 0, images: [] };
  const add = (r: RestoreResult): void => {
    total.files += r.files;
    total.bytes += r.bytes;
    total.refused.push(...r.refused);
    total.verified += r.verified;
  };
  // Oldest first; backup ids of one client sort by time.
  for (const backupId of [...fromEarlier.keys()].sort()) {
    const wanted = fromEarlier.get(backupId)!;
    let source: { image: Image; store: ObjectStore };
    try {
      source = await options.openImage(backupId);
    } catch (error) {
      throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId}, which holds ${wanted.size} unchanged file(s) of ${options.image.backupId}, cannot be opened`, { cause: error });
    }
    add(await restoreImage({ store: source.store, manifestKey: source.image.manifestKey, targetDir: options.targetDir, select: (p) => wanted.has(p) }));
    total.images.push(backupId);
  }
  add(await restoreImage({ store: final.store, manifestKey: final.image.manifestKey, targetDir: options.targetDir, paths: options.paths }));
  total.images.push(options.image.backupId);
  return total;
}

/** The entries of an image's index at or directly under `path` (bplist): what was there at that time. */
export async function listImagePath(store: ObjectStore, image: Image, path: string): Promise<IndexEntry[]> {
  const dir = path === '/' ? '/' : path.replace(/\/+$/, '');
  const out: IndexEntry[] = [];
  for await (const entry of readIndex(store, image.indexKey, image.indexSha256)) {
    const parent = entry.path.slice(0, Math.max(entry.path.lastIndexOf('/'), 1));
    if (entry.path === dir || parent === dir) out.push(entry);
  }
  return out;
}
