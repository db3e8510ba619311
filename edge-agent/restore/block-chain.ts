import type { FileHandle } from 'node:fs/promises';
import { extract as createExtract, type Extract } from 'tar-stream';
import { CairnError, messageOf } from '#core/errors.ts';
import { primaryCopy, fragmentLabel, type Fragment, type Image, type ImageCopy } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { objectStoreFragmentSource } from '../image/object-store-fragments.ts';
import { isSparseMember, realMemberName } from '../image/sparse-member.ts';
import { isPieceMember, pieceOf } from '../image/piece-member.ts';
import { pathOfMember } from '../image/tar-member.ts';
import { corruptImageError, readTrustedManifest, trustedIndex } from './image-trust.ts';
import { writeAt, writeSparseData, type BaseContent } from './sparse-restore.ts';
import { drainedOrClosed } from './tar-drain.ts';
import { ProblemList } from '../reader/problems.ts';
import type { ImagePlan } from './restore-plan.ts';

/** Opens the image a backup id names, with the store of its primary copy (as for a point-in-time restore). */
export type OpenImage = (backupId: string) => Promise<{ image: Image; store: ObjectStore }>;

/** A large file's line in an earlier image, with where its member ends (the next line's offset in its fragment). */
interface StoredVersion {
  line: IndexEntry;
  end: number | undefined;
}

interface ChainImage {
  image: Image;
  copy: ImageCopy;
  fragmentSource: FragmentSource;
  fragments: ReadonlyMap<number, Fragment>;
  /** Lines of files stored by blocks (with a block map) whose data is in this image, by path. */
  versions: ReadonlyMap<string, StoredVersion>;
}

/**
 * Rebuilds the earlier versions of block-diff files (see large-file.ts): a
 * line with `unchangedBlocksIn` holds only the blocks that changed; the
 * others are the file as the named image stored it, itself possibly a
 * block diff on an older image, and so on back to a whole member. The
 * versions are written oldest first into the file being restored, each
 * overlaying its blocks and setting its size; the restore then checks the
 * whole-file sha256 of the final line before the file is put in place.
 *
 * An earlier image is followed only as a point-in-time chain is: its
 * catalog record (through `openImage`) must be of the same client and
 * older than the image that names it, its manifest must agree with the
 * catalog and its index must have the catalog's sha256. Each image's index
 * is read once per restore, keeping only its large files' lines. Its
 * members are read by range, at the index's offsets.
 */
export class BlockChain {
  readonly #openImage: OpenImage | undefined;
  readonly #images = new Map<string, Promise<ChainImage>>();
  /** Block-diff files (`backupId:path`) whose chain failed its check in a best-effort restore: they are listed, not restored. */
  readonly #skipped = new Set<string>();

  constructor(openImage: OpenImage | undefined) {
    this.#openImage = openImage;
  }

  /**
   * Opens and checks, before anything is written, every earlier image the
   * wanted block-diff files of `plans` need, back to their whole members;
   * rejects as `baseOf` would (227 for an image that cannot be opened, 2001
   * for one that cannot be trusted). The wanted block-diff lines are the
   * plans' (kept from their pass over the index); full images hold none. With `failures` (best effort), such a file is
   * listed there instead, and `skips` it.
   */
  async check(plans: readonly ImagePlan[], failures?: ProblemList): Promise<void> {
    for (const plan of plans) {
      if (plan.image.level === 'full') continue;
      // The plan's pass over the verified index kept these: the index is not read again.
      for (const line of plan.blockDiffs) {
        if (line.unchangedBlocksIn === undefined || !plan.wants(line.path) || line.fromBackupId !== undefined || line.changed !== undefined) continue;
        try {
          await this.#resolve(line.unchangedBlocksIn, line.path, plan.image);
        } catch (error) {
          if (!failures || !(error instanceof CairnError)) throw error;
          failures.add(`${line.path}${plan.source}`, `not restored: ${error.message}`);
          this.#skipped.add(`${plan.image.backupId}:${line.path}`);
        }
      }
    }
  }

  /** Whether `check` listed this block-diff line as not restorable. */
  skips(image: Image, entry: IndexEntry): boolean {
    return this.#skipped.has(`${image.backupId}:${entry.path}`);
  }

  async #resolve(backupId: string, path: string, by: Image): Promise<void> {
    const source = await this.#image(backupId, by, path);
    const next = source.versions.get(path)?.line.unchangedBlocksIn;
    if (next !== undefined) await this.#resolve(next, path, source.image);
  }

  /** Writes the base version of the file `entry` (a block-diff line of `image`) into a file being restored. */
  baseOf(image: Image, entry: IndexEntry): BaseContent {
    const backupId = entry.unchangedBlocksIn!;
    return (target) => this.#writeVersion(target, backupId, entry.path, image);
  }

  async #writeVersion(target: FileHandle, backupId: string, path: string, by: Image): Promise<void> {
    const source = await this.#image(backupId, by, path);
    const version = source.versions.get(path);
    if (!version) throw corruptImageError(`image ${by.backupId}`, problem(`${path}: the index of image ${by.backupId} says its unchanged blocks are in image ${backupId}, whose index does not list it as a file stored there`));
    if (version.line.unchangedBlocksIn !== undefined) await this.#writeVersion(target, version.line.unchangedBlocksIn, path, source.image);
    await this.#writeMember(target, source, version);
    await target.truncate(version.line.size);
  }

  /**
   * Reads one member by its index range and writes its data into `target`:
   * at its offsets for a sparse member, from 0 otherwise; a file stored as
   * pieces (image/piece-member.ts) is read run by run, each piece written at
   * its file offset and required to continue the one before.
   */
  async #writeMember(target: FileHandle, source: ChainImage, version: StoredVersion): Promise<void> {
    const { line, end } = version;
    const runs = line.pieces;
    if (runs === undefined) return this.#readSpan(source, line, line.fragment, line.offset, end, async (entry) => {
      const { header } = entry;
      if (isSparseMember(header)) await writeSparseData(entry as AsyncIterable<Uint8Array>, header, target);
      else await writeFrom(target, entry as AsyncIterable<Uint8Array>, 0);
      return false;
    });
    let next = 0;
    for (const [i, run] of runs.entries()) {
      const until = i + 1 < runs.length ? runs[i + 1]!.fileOffset : line.size;
      await this.#readSpan(source, line, run.fragment, run.offset, i + 1 < runs.length ? undefined : end, async (entry, where) => {
        const piece = isPieceMember(entry.header) ? pieceOf(entry.header) : undefined;
        if (piece === undefined || 'problem' in piece || piece.fileOffset !== next || piece.fileSize !== line.size) {
          const found = piece === undefined ? 'no piece' : 'problem' in piece ? piece.problem : `a piece from file byte ${piece.fileOffset} of ${piece.fileSize}`;
          throw corruptImageError(`image ${source.image.backupId}`, problem(`${where}: ${entry.header.name} is ${found}, where its piece from file byte ${next} of ${line.size} belongs`));
        }
        next += await writeFrom(target, entry as AsyncIterable<Uint8Array>, next);
        return next < until;
      });
      if (next !== until) throw corruptImageError(`image ${source.image.backupId}`, problem(`${line.path} in image ${source.image.backupId}: its pieces in fragment ${run.fragment} stop at file byte ${next}, where the index says ${until}`));
    }
  }

  /**
   * Parses the span of `fragment` from `start` (where the index places a
   * member of `line`), handing each member of the file's name to `onMember`
   * until it returns false.
   */
  async #readSpan(source: ChainImage, line: IndexEntry, number: number, start: number, end: number | undefined, onMember: (entry: Entry, where: string) => Promise<boolean>): Promise<void> {
    const fragment = source.fragments.get(number)!;
    const where = `${line.path} in ${fragmentLabel(fragment)} of image ${source.image.backupId}`;
    let body: AsyncIterable<Uint8Array>;
    try {
      body = await source.fragmentSource.read(fragment, { start, end: end ?? Number.MAX_SAFE_INTEGER });
    } catch (error) {
      throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${where}, which holds earlier blocks of the file: ${messageOf(error)}`, { cause: error });
    }
    const extract = createExtract();
    extract.on('error', () => undefined);
    const feeding = feed(body, extract);
    let found = false;
    try {
      for await (const entry of extract) {
        const { header } = entry;
        if (pathOfMember(realMemberName(header)) !== line.path || (header.type !== 'file' && header.type !== 'contiguous-file')) {
          throw corruptImageError(`image ${source.image.backupId}`, problem(`${where}: the member at byte ${start} is ${header.type} ${realMemberName(header)}, not the file its index line names`));
        }
        found = true;
        if (!(await onMember(entry, where))) break;
      }
    } catch (error) {
      if (error instanceof CairnError) throw error;
      throw corruptImageError(`image ${source.image.backupId}`, problem(`${where}: the member at byte ${start} is unreadable: ${messageOf(error)}`));
    } finally {
      extract.destroy();
      await feeding;
    }
    if (!found) throw corruptImageError(`image ${source.image.backupId}`, problem(`${where}: no member at byte ${start}`));
  }

  /**
   * The earlier image `backupId`, opened and checked once per restore, and
   * followed from `by` only if the chain may go there. Errors name the file
   * and both images.
   */
  async #image(backupId: string, by: Image, path: string): Promise<ChainImage> {
    const holds = `${path} in image ${by.backupId} is a block diff whose unchanged blocks are in image ${backupId}`;
    let opening = this.#images.get(backupId);
    if (!opening) {
      opening = this.#open(backupId);
      this.#images.set(backupId, opening);
    }
    let source: ChainImage;
    try {
      source = await opening;
    } catch (error) {
      if (!(error instanceof CairnError)) throw error;
      throw new CairnError(error.statusCode, `${holds}, ${error.message}`, { cause: error, details: error.details });
    }
    const refusal = chainRefusal(source.image, backupId, by);
    if (refusal !== undefined) throw corruptImageError(`image ${by.backupId}`, problem(`${holds}: ${refusal}; not followed`));
    return source;
  }

  /** Opens an earlier image through the catalog and reads its (verified) index once; errors say what is wrong with it. */
  async #open(backupId: string): Promise<ChainImage> {
    if (!this.#openImage) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, 'and this restore cannot open other images');
    let opened: { image: Image; store: ObjectStore };
    try {
      opened = await this.#openImage(backupId);
    } catch (error) {
      throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `which cannot be opened (expired or deleted?): ${messageOf(error)}`, { cause: error });
    }
    if (opened.image.backupId !== backupId) throw new CairnError(StatusCode.CORRUPT_IMAGE, `for which the catalog answered with image ${opened.image.backupId}`);
    const copy = primaryCopy(opened.image);
    await readTrustedManifest(opened.store, opened.image, copy);
    const versions = new Map<string, StoredVersion>();
    let previous: StoredVersion | undefined;
    for await (const line of trustedIndex(opened.store, opened.image, copy)) {
      // A pieced file's member ends in the fragment of its last run of pieces.
      if (previous && line.fragment === (previous.line.pieces?.at(-1)?.fragment ?? previous.line.fragment)) previous.end = line.offset;
      previous = undefined;
      if (line.type === 'file' && line.fromBackupId === undefined && line.blockMap !== undefined && line.sha256 !== undefined) {
        previous = { line, end: undefined };
        versions.set(line.path, previous);
      }
    }
    const fragments = new Map(copy.fragments.map((f) => [f.number, f]));
    for (const { line } of versions.values()) {
      const missing = [line, ...(line.pieces ?? [])].find((place) => !fragments.has(place.fragment));
      if (missing !== undefined) throw corruptImageError(`image ${backupId}`, problem(`${line.path}: the index places it (or pieces of it) in fragment ${missing.fragment}, which the catalog does not list`));
      if (!fragments.has(line.fragment)) throw corruptImageError(`image ${backupId}`, problem(`${line.path}: the index places it in fragment ${line.fragment}, which the catalog does not list`));
    }
    return { image: opened.image, copy, fragmentSource: objectStoreFragmentSource(opened.store, copy.storageUnit), fragments, versions };
  }
}

type Entry = Extract extends AsyncIterable<infer S> ? S : never;

/** Writes a member's data into `target` from `position` on; returns the bytes written. */
async function writeFrom(target: FileHandle, data: AsyncIterable<Uint8Array>, position: number): Promise<number> {
  let at = position;
  for await (const chunk of data) {
    await writeAt(target, chunk, at);
    at += chunk.byteLength;
  }
  return at - position;
}

/** Why `candidate` cannot hold earlier blocks of a file of `by`, or undefined (the rule of a point-in-time chain). */
function chainRefusal(candidate: Image, backupId: string, by: Image): string | undefined {
  if (candidate.backupId !== backupId) return `the catalog answered with image ${candidate.backupId}`;
  if (candidate.client !== by.client) return `it is an image of client ${candidate.client}, not ${by.client}`;
  if (!(Date.parse(candidate.createdAt) < Date.parse(by.createdAt))) return `it was taken at ${candidate.createdAt}, not before ${by.backupId} (${by.createdAt})`;
  return undefined;
}

function problem(line: string): ProblemList {
  const list = new ProblemList();
  list.addLine(line);
  return list;
}

/** Feeds a ranged read to the parser until it has what it needs; never rejects. */
async function feed(source: AsyncIterable<Uint8Array>, extract: Extract): Promise<void> {
  try {
    for await (const chunk of source) {
      if (extract.destroyed) return;
      if (!extract.write(chunk)) await drainedOrClosed(extract);
    }
    extract.end(undefined);
  } catch (error) {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}
