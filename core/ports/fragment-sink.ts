import type { Fragment, FragmentEncoding, FragmentLocation } from '../model/image.ts';

/**
 * A fragment as its sink stored it: where, and how many bytes; with
 * `encoding` when the sink stored the tar archive encoded (compressed),
 * whose `tarBytes` is what it was given. Its checksum is the fragment
 * writer's, computed from the tar stream it produced (`tar-members-1`), not
 * the sink's: the same for every kind of sink and encoding.
 */
export interface WrittenFragment {
  location: FragmentLocation;
  bytes: number;
  encoding?: FragmentEncoding;
}

/**
 * Where the fragment writer's bytes go: an object store now (disk, S3), a
 * tape drive with a mounted volume next (DESIGN §6, §9).
 *
 * - `write` stores fragment `number` of the copy from `body` and resolves
 *   once it is durable, with where it is. It consumes each chunk before it
 *   asks for the next and keeps no reference to it (the chunks are pooled
 *   buffers). When `body` fails or `write` rejects, what was written of the
 *   fragment is not a fragment: an object store leaves nothing behind; a
 *   tape leaves bytes that no catalog points at.
 * - `endOfMedia` turns true once the medium passed its early-warning mark:
 *   the writer then closes the fragment at the next member boundary (a tape
 *   still has room past the mark for that) and goes on with the next sink.
 *   An object store never reaches it.
 * - `discard` removes a fragment this sink wrote, for a failed image.
 *   Idempotent. A tape sink may leave it where it is: nothing points at it
 *   and relabelling the volume reclaims it.
 */
export interface FragmentSink {
  write(number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment>;
  readonly endOfMedia: boolean;
  discard(location: FragmentLocation): Promise<void>;
}

/**
 * The sinks one copy is written to, in order: the first, and the next one
 * whenever the current one reaches end of media (for tape: reserve and
 * mount the next volume). `next` rejects with a CairnError (96, unable to
 * allocate new media) when there is none; the backup then fails.
 */
export interface FragmentSinks {
  first(): Promise<FragmentSink>;
  next(full: FragmentSink): Promise<FragmentSink>;
}

/**
 * A span of a fragment's tar stream: `start` inclusive, `end` exclusive,
 * both offsets into the tar archive the fragment holds (the index's member
 * offsets), whatever the fragment's stored encoding. `end` past the archive
 * reads to its end.
 */
export interface TarRange {
  start: number;
  end: number;
}

/**
 * Reads a copy's fragments by location, for restore. `read` yields the
 * fragment's tar archive when no range is given, and exactly the tar bytes
 * of `range` when one is (a single file restored from a large image reads
 * its member only). For a plain fragment the archive is its stored bytes;
 * for an encoded one (compressed, `encoding`) the source decodes it, and a
 * whole read checks the stored bytes' count (and, for a fragment whose
 * checksum is `stored-bytes`, their sha256) itself, rejecting with 2001
 * when they differ. It rejects with
 * NotFoundError when the fragment is not there, and with a CairnError naming
 * the location when this source cannot read that kind of location.
 */
export interface FragmentSource {
  read(fragment: Fragment, range?: TarRange): Promise<AsyncIterable<Uint8Array>>;
}
