import { usableImage, type Image } from '../model/image.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { sameSelections } from '../model/selection.ts';

/**
 * The image that shows a client's tree as it was at `at`: the newest
 * successful image taken at or before it. Every image lists every path
 * present when it was taken (True Image Restore), so this one image says what
 * existed; the images its unchanged files point at hold their data.
 * A stream's image shows its own stream only: `imagesAt` gives them all.
 */
export async function imageAt(catalog: CatalogStore, query: { client: string; policy?: string; at: Date }): Promise<Image> {
  return (await imagesAt(catalog, query)).images[0]!;
}

/** A client's tree at a point in time: the images that show it, and the streams that had no image yet. */
export interface PointInTimeView {
  /** The newest successful image at or before the time first; then, for a multiple-data-streams policy, the newest of each other stream. */
  images: Image[];
  /** Streams of the newest image's parent job with no successful image at or before the time (nothing of them can be shown). */
  missing: string[];
}

/**
 * The images that show a client's tree at `at` (`imagesAt`'s rule over
 * `images`, the client's images at or before `at` newest first; of one
 * policy when `policy` is given). Undefined when there is none.
 *
 * The newest successful image decides. An image that is not a stream's
 * shows the whole tree by itself. A stream's image names every stream of its
 * parent (`streams`), and each stream is a chain of its own: the view is
 * the newest successful image of that policy whose selections are exactly
 * that stream, for each stream. So a stream that failed in the last run is
 * shown as its previous run left it, and a stream dropped from the policy
 * before the newest run is not shown (its images stay restorable by backup
 * id until they expire).
 */
export function pointInTimeImages(images: readonly Image[]): PointInTimeView | undefined {
  const good = images.filter((i) => i.statusCode <= 1 && i.state === 'ACTIVE' && usableImage(i));
  const newest = good[0];
  if (!newest) return undefined;
  if (newest.streams === undefined) return { images: [newest], missing: [] };
  const view: Image[] = [newest];
  const missing: string[] = [];
  for (const stream of newest.streams) {
    if (newest.selections !== undefined && sameSelections(newest.selections, [stream])) continue;
    const image = good.find((i) => i.policy === newest.policy && i.selections !== undefined && sameSelections(i.selections, [stream]));
    if (!image) missing.push(stream);
    else if (!view.includes(image)) view.push(image);
  }
  return { images: view, missing };
}

/** `pointInTimeImages` of the catalog's images of the client (and policy) at or before `at`; 227 when there is none. */
export async function imagesAt(catalog: CatalogStore, query: { client: string; policy?: string; at: Date }): Promise<PointInTimeView> {
  const view = pointInTimeImages(await catalog.listImages({ client: query.client, policy: query.policy, to: query.at }));
  if (!view) {
    throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `no image of client ${query.client}${query.policy ? ` in policy ${query.policy}` : ''} was taken at or before ${query.at.toISOString()}`);
  }
  return view;
}
