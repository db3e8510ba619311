import { createHash } from 'node:crypto';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { fragmentLabel, type Fragment, type FragmentEncoding } from '#core/model/image.ts';
import type { FragmentSource, TarRange } from '#core/ports/fragment-sink.ts';
import { readAll } from '#core/ports/object-store.ts';
import { zstdBinding } from './zstd-binding.ts';
import { CorruptFragmentError, frameCount, framesCovering, parseSeekTable, seekTableBytes, type FramePlace } from './seek-table.ts';

/** Reads a fragment's stored bytes: all of them, or the byte range [start, end). */
export type StoredFragmentReader = (fragment: Fragment, range?: { start: number; end: number }) => Promise<AsyncIterable<Uint8Array>>;

/**
 * A FragmentSource over stored bytes that reads every fragment as its tar
 * archive, whatever its encoding: a plain fragment is its tar archive (a
 * tar range is a byte range of it); a `zstd-seekable` one is decompressed
 * here.
 *
 * Reading a compressed fragment whole yields its tar archive and checks
 * the stored bytes' count, else the read ends with 2001 after its last
 * frame. Their sha256 is checked here too when the fragment's checksum is
 * `stored-bytes`; a `tar-members-1` checksum is over the tar archive, and
 * restore's fragment check computes it from the bytes this yields
 * (edge-agent/restore/restore.ts).
 * Reading a range reads the seek table and the frames covering the range,
 * and yields exactly its tar bytes; the catalog's sha256 covers the whole
 * object, so a range relies on each frame's content checksum, and restore
 * on each file's sha256 from the index.
 *
 * Every frame is decompressed whole and its zstd content checksum checked
 * before any of its bytes are yielded; a bad seek table, a frame that does
 * not decompress to its listed size, or a truncated object is a
 * CorruptFragmentError (2001) naming the fragment and the frame.
 */
export function decodingFragmentSource(stored: StoredFragmentReader): FragmentSource {
  return {
    read: async (fragment, range) => {
      const { encoding } = fragment;
      if (encoding === undefined) return stored(fragment, range);
      const places = await readSeekTable(stored, fragment, encoding);
      return range === undefined ? readWhole(stored, fragment, encoding, places) : readRange(stored, fragment, encoding, places, range);
    },
  };
}

async function readSeekTable(stored: StoredFragmentReader, fragment: Fragment, encoding: FragmentEncoding): Promise<FramePlace[]> {
  const size = seekTableBytes(frameCount(encoding));
  if (fragment.bytes < size) throw new CorruptFragmentError(`${fragmentLabel(fragment)} has a bad seek table: the catalog gives the fragment ${fragment.bytes} bytes, fewer than its ${size}-byte seek table`);
  const table = await readAll(await stored(fragment, { start: fragment.bytes - size, end: fragment.bytes }));
  return parseSeekTable(fragment, encoding, table);
}

async function readWhole(stored: StoredFragmentReader, fragment: Fragment, encoding: FragmentEncoding, places: FramePlace[]): Promise<AsyncIterable<Uint8Array>> {
  const body = await stored(fragment);
  // Only a stored-bytes checksum is of what is read here; tar-members-1 is restore's to check, over the tar archive.
  const checksOwnSha256 = (fragment.checksum ?? 'stored-bytes') === 'stored-bytes';
  const hash = createHash('sha256');
  let bytes = 0;
  const counted = (async function* () {
    for await (const chunk of body) {
      if (checksOwnSha256) hash.update(chunk);
      bytes += chunk.byteLength;
      yield chunk;
    }
  })();
  return (async function* () {
    const cutter = new FrameCutter(counted, fragment);
    for (const place of places) yield decompressFrame(fragment, place, await cutter.take(place));
    // What follows the frames is the seek table, read (and checked) already: it only counts towards the bytes and the sha256.
    await cutter.drain();
    const sha256 = hash.digest('hex');
    if (bytes !== fragment.bytes || (checksOwnSha256 && sha256 !== fragment.sha256)) {
      const size = bytes < fragment.bytes ? `truncated: ${bytes} of ${fragment.bytes} bytes` : bytes > fragment.bytes ? `${bytes} bytes, the catalog says ${fragment.bytes}` : `${bytes} bytes as expected`;
      throw new CorruptFragmentError(`${fragmentLabel(fragment)}: the stored fragment is ${size}, with sha256 ${sha256} where the catalog says ${fragment.sha256}`);
    }
  })();
}

async function readRange(stored: StoredFragmentReader, fragment: Fragment, encoding: FragmentEncoding, places: FramePlace[], range: TarRange): Promise<AsyncIterable<Uint8Array>> {
  const end = Math.min(range.end, encoding.tarBytes);
  const covering = framesCovering(places, encoding.frameBytes, range.start, end);
  if (covering.length === 0) return (async function* () {})();
  const first = covering[0]!;
  const last = covering.at(-1)!;
  const body = await stored(fragment, { start: first.storedStart, end: last.storedEnd });
  return (async function* () {
    const cutter = new FrameCutter(body, fragment);
    for (const place of covering) {
      const tar = decompressFrame(fragment, place, await cutter.take(place));
      const from = Math.max(range.start, place.tarStart) - place.tarStart;
      const to = Math.min(end, place.tarEnd) - place.tarStart;
      yield from === 0 && to === tar.byteLength ? tar : tar.subarray(from, to);
    }
    await cutter.drain();
  })();
}

let dctx: InstanceType<typeof ZstdBinding.DCtx> | undefined;

/**
 * The tar bytes of one frame, its checksum verified; 2001 naming the frame
 * otherwise. Decompressed into a buffer of exactly the size the seek table
 * and the catalog give (ZSTD_decompressDCtx): a frame claiming more (a
 * forged content size, a zip bomb) fails there instead of allocating what
 * it claims, which zstd-napi's `Decompressor` would.
 */
function decompressFrame(fragment: Fragment, place: FramePlace, frame: Buffer): Buffer {
  const expected = place.tarEnd - place.tarStart;
  const tar = Buffer.allocUnsafe(expected);
  // Outside the try: a host without zstd-napi is status 219 (zstd-binding.ts), not a corrupt frame.
  dctx ??= new (zstdBinding().DCtx)();
  let size: number;
  try {
    size = dctx.decompress(tar, frame);
  } catch (error) {
    throw new CorruptFragmentError(`${frameLabel(fragment, place)} does not decompress: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (size !== expected) throw new CorruptFragmentError(`${frameLabel(fragment, place)} decompresses to ${size} bytes, not ${expected}`);
  return tar;
}

function frameLabel(fragment: Fragment, place: FramePlace): string {
  return `${fragmentLabel(fragment)}, frame ${place.index} (tar bytes ${place.tarStart}-${place.tarEnd}, stored at ${place.storedStart}-${place.storedEnd})`;
}

/** Cuts a stream of stored bytes into the frames the seek table places there, in order. */
class FrameCutter {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #fragment: Fragment;
  #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(body: AsyncIterable<Uint8Array>, fragment: Fragment) {
    this.#iterator = body[Symbol.asyncIterator]();
    this.#fragment = fragment;
  }

  async take(place: FramePlace): Promise<Buffer> {
    const size = place.storedEnd - place.storedStart;
    while (this.#heldBytes < size) {
      const next = await this.#iterator.next();
      if (next.done) throw new CorruptFragmentError(`${frameLabel(this.#fragment, place)} is truncated: the object ends ${size - this.#heldBytes} bytes short of its end`);
      // Copied once as it arrives: a store may reuse a chunk once the next is asked for; slices of the copy are then free.
      this.#held.push(Buffer.from(next.value));
      this.#heldBytes += next.value.byteLength;
    }
    const all = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held, this.#heldBytes);
    const rest = all.subarray(size);
    this.#held = rest.byteLength > 0 ? [rest] : [];
    this.#heldBytes = rest.byteLength;
    return all.subarray(0, size);
  }

  /** Reads the stream to its end (so a whole read counts and hashes every stored byte). */
  async drain(): Promise<void> {
    this.#held = [];
    for (;;) {
      const next = await this.#iterator.next();
      if (next.done) return;
    }
  }
}
