import type { Image } from '../model/image.ts';
import type { StorageUnit } from '../model/storage-unit.ts';

/**
 * Which fragments of an image a restore of `paths` (all when empty) reads,
 * decided from the image's verified index (the agent's restore plan), so a
 * restore job mounts only the volumes that hold them. Rejects as the
 * restore would: 227 when a path matches nothing, 2001 when the index or
 * manifest cannot be trusted. Where the index cannot be read (a Lambda far
 * from an on-premise index unit) no planner is given, and every volume of
 * the image is mounted; each Read still reads only what it needs.
 */
export interface RestorePlanner {
  fragmentsFor(image: Image, unit: StorageUnit, paths: readonly string[]): Promise<ReadonlySet<number>>;
}
