import type { FragmentLocation } from '../model/image.ts';
import type { Media } from '../model/tape-media.ts';

export type TapeLocation = Extract<FragmentLocation, { kind: 'tape' }>;

/**
 * The janitor's cheap check of one catalogued fragment on tape, without
 * mounting anything (the counterpart of an object's size check): the
 * media manager knows the volume, lists the image on it (recorded before
 * the catalog commit, core/catalog/tape-writes.ts), and the fragment's tape
 * file is before the volume's append point, so no later write went over it.
 * Undefined when it checks out, else what is wrong.
 */
export function tapeFragmentProblem(media: Pick<Media, 'mediaId' | 'images' | 'tapeFiles'> | undefined, backupId: string, location: TapeLocation): string | undefined {
  if (!media) return `volume ${location.mediaId} is not in the media manager`;
  if (!media.images.includes(backupId)) return `volume ${media.mediaId} does not list image ${backupId}`;
  if (location.fileNumber < 1 || location.fileNumber >= media.tapeFiles) return `tape file ${location.fileNumber} is not before the append point of volume ${media.mediaId} (file ${media.tapeFiles})`;
  return undefined;
}
