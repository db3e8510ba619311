import { createHash } from 'node:crypto';
import { CairnError, NotFoundError, messageOf } from '#core/errors.ts';
import { recordCopyWrites } from '#core/catalog/tape-writes.ts';
import type { TapeUnit } from '#core/broker/tape-choice.ts';
import { fragmentLabel, type Fragment, type Image, type ImageCopy } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { TapeError, type TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';
import { encodeManifest } from '../image/manifest.ts';
import { fragmentChecksum } from '../image/fragment-digest.ts';
import { readTrustedManifest } from '../restore/image-trust.ts';
import { corruptImageOf, verifyImage } from '../verify/verify-image.ts';
import { TapeFragmentSink } from '../tape/format/tape-fragment-sink.ts';
import { tapeFragmentSource } from '../tape/format/tape-fragment-source.ts';
import { tapeWriteRoom } from '../tape/early-warning.ts';
import { TapeCopyDrive, type TapeCopyHolding } from './tape-copy-drive.ts';
import type { CopyProgress, WrittenCopy } from './write-copy.ts';
import { copySideObjects } from './copy-side-objects.ts';

export interface WriteTapeCopyOptions {
  image: Image;
  /**
   * The copy read, and the store of its unit (for a tape copy, its index
   * storage). `readFragment` reads a tape fragment's stored bytes through a
   * drive of its own (tape-copy-reader.ts): a copy from tape to tape.
   */
  from: { copy: ImageCopy; store: ObjectStore; readFragment?: (fragment: Fragment) => Promise<AsyncIterable<Uint8Array>> };
  /** The tape unit written, and the store of its index unit (indexes, block maps, manifests). */
  to: { unit: TapeUnit; indexStore: ObjectStore };
  copyNumber: number;
  /** The new copy's own retention end; absent: it follows the image's. */
  expiresAt?: string;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface WrittenTapeCopy extends WrittenCopy {
  /** The volumes written, in order. */
  volumes: string[];
}

const DAY_MS = 86_400_000;

/**
 * Writes copy `copyNumber` of an image to a tape unit (bpduplicate to tape):
 *
 * 1. A drive and a volume of the unit's pool are reserved and mounted as a
 *    backup's are (tape-copy-drive.ts: the broker's volume choice, scratch
 *    moved into the pool once granted, a new volume labelled).
 * 2. Each fragment of the source copy becomes one tape file at the
 *    volume's append point (`TapeFragmentSink`, the tape backup's writer):
 *    its stored bytes as they are (a compressed fragment stays compressed),
 *    so the fragment keeps its number, bytes, checksum and encoding, the
 *    index (whose lines name fragment numbers) stays valid as is, and tape
 *    restore and verify read the copy as they read a tape backup. Each
 *    fragment is hashed as it passes and must match the catalog.
 * 3. Spanning: a fragment starts on the next volume once the drive reported
 *    early warning; a fragment that meets the hard end of media is written
 *    again, whole, on the next volume (its torn file is past the full
 *    volume's append point, so nothing ever points at it). File tapes are
 *    opened with an early-warning zone that holds the biggest fragment
 *    (early-warning.ts, at most half the volume).
 * 4. The index, block maps and then the manifest (naming the copy, the
 *    unit and the tape locations) go to the unit's index storage.
 * 5. Read-back: `verifyImage` over the written copy, its fragments read
 *    from tape volume by volume in the same drive (every fragment's
 *    checksum and structure, every file's sha256, a file pieced across two
 *    volumes hashed whole), as a verify job reads a tape image.
 * 6. Only then each volume records what the copy wrote (the append point
 *    moves past it: `recordCopyWrites`); the caller catalogues the copy.
 *
 * The drive is unloaded and the reservation released on every path
 * (`TapeCopyDrive.release`). A failure or a crash before step 6 leaves the
 * written tape files past each volume's append point: not counted, never
 * pointed at, written over by the next write there.
 */
export async function writeTapeCopy(options: WriteTapeCopyOptions, holding: TapeCopyHolding): Promise<WrittenTapeCopy> {
  const { image, from, to } = options;
  const manifest = await readTrustedManifest(from.store, image, from.copy);
  const objectFragments = from.copy.fragments.flatMap((f) => (f.location.kind === 'object' || (f.location.kind === 'tape' && from.readFragment) ? [f] : []));
  if (objectFragments.length !== from.copy.fragments.length) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `copy ${from.copy.copyNumber} of image ${image.backupId} is on tape, and this duplicate has no drive to read it`);
  const expiresAt = options.expiresAt ?? image.expiresAt;
  const retentionDays = Math.max(0, Math.round((Date.parse(expiresAt) - Date.parse(image.createdAt)) / DAY_MS));
  const progress: CopyProgress = { objects: 0, bytes: 0, current: '' };
  const aborted = (): void => {
    if (options.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: options.signal.reason });
  };
  const biggest = Math.max(0, ...objectFragments.map((f) => f.bytes));

  const drive = await TapeCopyDrive.forWriting({ ...holding, ...(options.signal ? { signal: options.signal } : {}) }, to.unit, retentionDays);
  let succeeded = false;
  let failure: unknown;
  try {
    // What may still come past the mark: the sink's two write buffers and one whole fragment (no data buffers: the copy streams one fragment).
    const openSink = async (): Promise<TapeFragmentSink> => {
      const room = tapeWriteRoom(drive.access, { count: 0, sizeBytes: 0 }, biggest);
      const tape = await drive.open(room.earlyWarningBytes === undefined ? drive.access : { ...drive.access, earlyWarningBytes: room.earlyWarningBytes });
      return TapeFragmentSink.mount({ drive: tape, mediaId: drive.mediaId, appendFile: drive.appendFile, writeBytes: room.writeBytes });
    };
    let sink = await openSink();
    const fragments: Fragment[] = [];
    for (const fragment of objectFragments) {
      for (let tries = 0; ; tries++) {
        aborted();
        if (sink.endOfMedia) {
          await drive.nextVolume(retentionDays);
          sink = await openSink();
        }
        progress.current = fragmentLabel(fragment);
        options.onProgress?.({ ...progress });
        try {
          fragments.push({ ...fragment, location: await writeFragment(image, from, fragment, sink, progress) });
          break;
        } catch (error) {
          // The hard end of media in the middle of a fragment: written again, whole, on the next volume; once only.
          if (!(error instanceof TapeError && error.fault === 'end-of-media') || tries > 0) throw error;
          await drive.nextVolume(retentionDays);
          sink = await openSink();
        }
      }
      progress.objects += 1;
    }
    const fullVolume = sink.endOfMedia ? drive.mediaId : undefined;
    await drive.close();

    // The index and the block map it points into, to the index storage: from the catalog and the index, never a listing (copy-side-objects.ts).
    for (const key of await copySideObjects(from.store, image, from.copy)) {
      aborted();
      progress.current = key;
      options.onProgress?.({ ...progress });
      await copyObject(image, from, key, to.indexStore, progress);
      progress.objects += 1;
    }
    const copy: ImageCopy = { ...from.copy, copyNumber: options.copyNumber, storageUnit: to.unit.name, fragments, ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }) };
    if (options.expiresAt === undefined) delete copy.expiresAt;
    const written = encodeManifest({ ...manifest, copyNumber: copy.copyNumber, storageUnit: copy.storageUnit, fragments });
    await to.indexStore.put(copy.manifestKey, written);
    progress.objects += 1;

    // Read-back, volume by volume in this drive, as a verify job of a tape image reads it.
    progress.current = 'verifying';
    options.onProgress?.({ ...progress });
    const source = tapeFragmentSource({
      mount: async (mediaId: string): Promise<TapeDrive> => {
        await drive.switchTo(mediaId);
        return drive.open();
      },
    });
    let result;
    try {
      // The manifest this run wrote, not the one at its key now: a concurrent run of the same copy writes that key too (with
      // its own volumes), and this read-back checks this run's volumes. The run that loses the catalog commit puts the
      // winner's manifest back (duplicate-image.ts).
      result = await verifyImage({ store: withManifest(to.indexStore, copy.manifestKey, written), image, copy, fragmentSource: source, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (error) {
      throw new CairnError(error instanceof CairnError ? error.statusCode : StatusCode.MEDIA_READ_ERROR, `copy ${copy.copyNumber} on tape unit ${to.unit.name} could not be read back: ${messageOf(error)}`, { cause: error });
    }
    if (result.problemCount > 0) {
      const corrupt = corruptImageOf(result);
      throw new CairnError(StatusCode.CORRUPT_IMAGE, `copy ${copy.copyNumber} written to tape unit ${to.unit.name} does not verify: ${corrupt.message}`, { details: corrupt.details });
    }
    // The append points move past the copy before any catalog points at it.
    await recordCopyWrites(holding.emm, image.backupId, fragments, { expiresAt, retentionDays, at: holding.now(), ...(fullVolume ? { fullVolume } : {}) });
    succeeded = true;
    return { copy, objects: progress.objects, bytes: progress.bytes, volumes: [...new Set(fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))] };
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    await drive.release(succeeded, failure);
  }
}

/** Streams one fragment's stored bytes onto the tape, checked against the catalog; resolves with its tape location. */
async function writeFragment(image: Image, from: WriteTapeCopyOptions['from'], fragment: Fragment, sink: TapeFragmentSink, progress: CopyProgress): Promise<Fragment['location']> {
  let body: AsyncIterable<Uint8Array>;
  if (fragment.location.kind === 'tape' && from.readFragment) body = await from.readFragment(fragment);
  else if (fragment.location.kind === 'object') body = await getSource(image, from, fragment.location.key, fragmentLabel(fragment));
  else throw new CairnError(StatusCode.INTERNAL_ERROR, `${fragmentLabel(fragment)} is not an object`);
  const checksum = fragment.encoding === undefined ? fragmentChecksum(fragment) : undefined;
  let bytes = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      checksum?.update(chunk);
      bytes += chunk.byteLength;
      progress.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  const written = await sink.write(fragment.number, counted());
  const wrong = (reason: string): CairnError => new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${fragmentLabel(fragment)} of copy ${from.copy.copyNumber} ${reason}`);
  if (bytes !== fragment.bytes) throw wrong(`has ${bytes} bytes, the catalog says ${fragment.bytes}`);
  const expected = checksum?.digest('hex');
  if (expected !== undefined && expected !== fragment.sha256) throw wrong(`has checksum (${fragment.checksum ?? 'stored-bytes'}) ${expected}, the catalog says ${fragment.sha256}`);
  return written.location;
}

/** Copies one side object (the index, the block map) to the index storage; the index must have the catalog's sha256. */
async function copyObject(image: Image, from: WriteTapeCopyOptions['from'], key: string, store: ObjectStore, progress: CopyProgress): Promise<void> {
  const what = key === from.copy.indexKey ? `index ${key}` : key;
  const body = await getSource(image, from, key, what);
  const sha = createHash('sha256');
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      sha.update(chunk);
      progress.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  await store.put(key, counted());
  const sha256 = sha.digest('hex');
  if (key === from.copy.indexKey && sha256 !== from.copy.indexSha256) throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${what} of copy ${from.copy.copyNumber} has sha256 ${sha256}, the catalog says ${from.copy.indexSha256}`);
}

async function getSource(image: Image, from: WriteTapeCopyOptions['from'], key: string, what: string): Promise<AsyncIterable<Uint8Array>> {
  try {
    return await from.store.get(key);
  } catch (error) {
    if (error instanceof NotFoundError) throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${image.backupId} is corrupt: ${what} of copy ${from.copy.copyNumber} is missing from storage unit ${from.copy.storageUnit}`, { cause: error });
    throw error;
  }
}

/** `store` with `key` read as `bytes` (this run's manifest); every other call goes to `store`. */
function withManifest(store: ObjectStore, key: string, bytes: Uint8Array): ObjectStore {
  return {
    put: (k, body) => store.put(k, body),
    get: async (k, range) => {
      if (k !== key) return store.get(k, range);
      const end = Math.min(range?.end ?? bytes.byteLength, bytes.byteLength);
      return (async function* () {
        yield bytes.subarray(range?.start ?? 0, end);
      })();
    },
    head: async (k) => (k === key ? { bytes: bytes.byteLength } : store.head(k)),
    list: (prefix) => store.list(prefix),
    delete: (k) => store.delete(k),
    listIncomplete: (prefix) => store.listIncomplete(prefix),
    deletePrefix: (prefix) => store.deletePrefix(prefix),
  };
}
