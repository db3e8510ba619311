import type { Image } from '../model/image.ts';

export interface ImageQuery {
  client?: string;
  policy?: string;
  /** Images created at or after this instant. */
  from?: Date;
  /** Images created at or before this instant. */
  to?: Date;
}

/**
 * The image catalog (bpdbm). Holds one record per image; the per-file index
 * lives next to the image in its storage unit, so this store does not grow
 * with file count.
 */
export interface CatalogStore {
  /**
   * Records an image. Idempotent for an identical record (a retried Catalog
   * step); ConflictError when a different image has that backup id.
   */
  putImage(image: Image): Promise<void>;
  getImage(backupId: string): Promise<Image | undefined>;
  /** Matching images, newest first. */
  listImages(query?: ImageQuery): Promise<Image[]>;
}
