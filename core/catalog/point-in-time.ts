import type { Image } from '../model/image.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * The image that shows a client's tree as it was at `at`: the newest
 * successful image taken at or before it. Every image lists every path
 * present when it was taken (True Image Restore), so this one image says what
 * existed; the images its unchanged files point at hold their data.
 */
export async function imageAt(catalog: CatalogStore, query: { client: string; policy?: string; at: Date }): Promise<Image> {
  const images = await catalog.listImages({ client: query.client, policy: query.policy, to: query.at });
  const image = images.find((i) => i.statusCode <= 1 && i.state === 'ACTIVE');
  if (!image) {
    throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `no image of client ${query.client}${query.policy ? ` in policy ${query.policy}` : ''} was taken at or before ${query.at.toISOString()}`);
  }
  return image;
}
