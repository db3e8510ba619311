import { primaryCopy, type Image, type ImageCopy } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { imagesAt } from '#core/catalog/point-in-time.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { listImagePath } from '#agent/restore/point-in-time.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import type { Backend } from './backend-interface.ts';

/*
 * What `cairn ls` (bplist) and the activity monitor's Images page read: a
 * directory of one image, a client's tree at a time (its images merged), and
 * a name searched across a client's images. One implementation for both.
 */

type Stores = Pick<Backend, 'catalog' | 'config'>;

/** The store of the unit a copy is on; 219 when the unit is gone. */
export async function openCopyStore(backend: Stores, copy: ImageCopy): Promise<ObjectStore> {
  const unit = await backend.config.getStorageUnit(copy.storageUnit);
  if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${copy.storageUnit} does not exist`);
  return openStorageUnit(unit);
}

/** The entries of one image's index at or directly under `path` (its primary copy's index), in index order. */
export async function listImageDirectory(backend: Stores, image: Image, path: string): Promise<IndexEntry[]> {
  return listImagePath(await openCopyStore(backend, primaryCopy(image)), image, path);
}

/** A directory of one image as the monitor walks it: its entries, and the directories only implied by deeper paths. */
export interface ImageDirectory {
  /** The entries at `path` and directly under it, in index order. */
  entries: IndexEntry[];
  /**
   * Directories under `path` that the index has no line for but holds paths
   * below (an image of `/srv/data` has no `/srv`): so the tree can be walked
   * from `/` down to what was backed up.
   */
  implied: string[];
}

/** `listImageDirectory`, plus the directories between `path` and the deeper paths the index holds (one pass over the index). */
export async function browseImageDirectory(backend: Stores, image: Image, path: string): Promise<ImageDirectory> {
  const dir = path === '/' ? '/' : path.replace(/\/+$/, '');
  const prefix = dir === '/' ? '/' : `${dir}/`;
  const copy = primaryCopy(image);
  const store = await openCopyStore(backend, copy);
  const entries: IndexEntry[] = [];
  const below = new Set<string>();
  for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) {
    if (entry.changed === 'superseded') continue;
    if (entry.path === dir) entries.push(entry);
    else if (entry.path.startsWith(prefix) && entry.path.length > prefix.length) {
      const next = entry.path.indexOf('/', prefix.length);
      if (next === -1) entries.push(entry);
      else below.add(entry.path.slice(0, next));
    }
  }
  const listed = new Set(entries.map((e) => e.path));
  return { entries, implied: [...below].filter((p) => !listed.has(p)).sort(byCodePoint) };
}

/** A client's tree at a path and a time: the image that shows it and the entries there. */
export interface ClientListing {
  /** The newest image of the view (with multiple data streams, one per stream shows the tree). */
  image: Image;
  /** Every image of the view, newest first. */
  images: Image[];
  /** An entry of another stream's image names it in `fromBackupId`, as an unchanged file of an incremental names its earlier image. */
  entries: IndexEntry[];
  /** Directories under the path with no index line of their own in any of the images (browseImageDirectory); `cairn ls` does not print them. */
  implied: string[];
}

/** `cairn ls --client C --at T PATH`: what the client had at `path` at `at`; 227 when no image was taken at or before `at`. */
export async function listClientPath(backend: Stores, query: { client: string; policy?: string; at: Date; path: string }): Promise<ClientListing> {
  // With multiple data streams, one image per stream shows the tree (imagesAt): their entries together, the newest image's first.
  const { images } = await imagesAt(backend.catalog, { client: query.client, policy: query.policy, at: query.at });
  const image = images[0]!;
  const byPath = new Map<string, IndexEntry>();
  const implied = new Set<string>();
  for (const shown of images) {
    const directory = await browseImageDirectory(backend, shown, query.path);
    for (const path of directory.implied) implied.add(path);
    for (const entry of directory.entries) {
      // An entry of another stream's image is in that image (IN IMAGE), as an unchanged file is in its earlier one.
      if (!byPath.has(entry.path)) byPath.set(entry.path, shown === image ? entry : { ...entry, fromBackupId: entry.fromBackupId ?? shown.backupId });
    }
  }
  const entries = images.length === 1 ? [...byPath.values()] : [...byPath.values()].sort((a, b) => byCodePoint(a.path, b.path));
  return { image, images, entries, implied: [...implied].filter((p) => !byPath.has(p)).sort(byCodePoint) };
}

/** One entry found by `searchClientImages`, with the image it is in. */
export interface SearchHit {
  backupId: string;
  createdAt: string;
  entry: IndexEntry;
}

export interface SearchResult {
  hits: SearchHit[];
  /** Images whose index was read, newest first. */
  imagesSearched: string[];
  /** More matched than `maxHits`, or the client has more than `maxImages` images: the search stopped there. */
  truncated: boolean;
}

/**
 * The entries of a client's images whose name (the last part of the path)
 * `matches`, newest image first, each image's in index order. Reads each
 * image's index as a stream (memory stays bounded whatever its size) and
 * stops at `maxHits` hits or after `maxImages` images. Only usable, active
 * images are read, as a restore would.
 */
export async function searchClientImages(backend: Stores, query: { client: string; matches: (name: string) => boolean; maxHits: number; maxImages: number }): Promise<SearchResult> {
  const images = (await backend.catalog.listImages({ client: query.client })).filter((i) => i.state === 'ACTIVE').sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const hits: SearchHit[] = [];
  const imagesSearched: string[] = [];
  for (const image of images.slice(0, query.maxImages)) {
    imagesSearched.push(image.backupId);
    const copy = primaryCopy(image);
    const store = await openCopyStore(backend, copy);
    for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) {
      if (entry.changed === 'superseded') continue;
      if (!query.matches(entry.path.slice(entry.path.lastIndexOf('/') + 1))) continue;
      if (hits.length === query.maxHits) return { hits, imagesSearched, truncated: true };
      hits.push({ backupId: image.backupId, createdAt: image.createdAt, entry });
    }
  }
  return { hits, imagesSearched, truncated: images.length > query.maxImages };
}
