import { primaryCopy, type Image } from '#core/model/image.ts';

/**
 * An image as the CLI prints it in JSON: the catalog record (with `copies`),
 * plus the fields an image had before it had copies, taken from its primary
 * copy, so scripts written against them keep working: `storageUnit`,
 * `fragments` (each with its `key` when it is an object, and its `location`),
 * `indexKey`, `indexSha256`, `manifestKey`. A tape image adds `volumes`: the
 * media ids its primary copy's fragments are on, in order (each fragment's
 * `location` names its own).
 */
export function imageJson(image: Image): Record<string, unknown> {
  const { copies, ...rest } = image;
  const primary = primaryCopy(image);
  const volumes = [...new Set(primary.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : [])))];
  return {
    ...rest,
    storageUnit: primary.storageUnit,
    fragments: primary.fragments.map((f) => ({ number: f.number, ...(f.location.kind === 'object' ? { key: f.location.key } : {}), bytes: f.bytes, sha256: f.sha256, location: f.location, ...(f.encoding ? { encoding: f.encoding } : {}) })),
    indexKey: primary.indexKey,
    indexSha256: primary.indexSha256,
    manifestKey: primary.manifestKey,
    ...(volumes.length > 0 ? { volumes } : {}),
    copies,
  };
}
