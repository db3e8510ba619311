import type { BigIntStats } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { imageKeys } from '#core/ids.ts';
import { fragmentLabel, type Fragment } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { FragmentSinks } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { messageOf } from '#core/errors.ts';
import type { BufferPool } from '../transport/buffer-pool.ts';
import type { DataPathMeters } from '../transport/busy-meter.ts';
import { changedText, MAX_FILE_READS, UnreadableFileError, type CopyResult, type FileMeters, type FileStats, type PreparedFile } from '../reader/file-reader.ts';
import { ReaderThread } from '../reader/reader-thread.ts';
import { FragmentWriter, type MemberPlace } from './fragment-writer.ts';
import { describeFsError } from '../reader/fs-errors.ts';
import { IndexWriter } from './index-writer.ts';
import type { IndexChunkTable } from './index-chunks.ts';
import { ProblemList } from '../reader/problems.ts';
import { packHeader, type MemberSpec } from './tar-member.ts';
import type { WalkEntry } from '../reader/walker.ts';
import { BLOCK_BYTES, BlockMapWriter, LARGE_FILE_BYTES, readBlockMap } from './block-map.ts';
import { packLargeFile, type LargeFileResult } from './large-file.ts';
import { addFileMember } from './piece-member.ts';
import { DEFAULT_PIECE_BYTES } from '#core/model/storage-unit.ts';
import { XattrReader, type AttrResult } from '../reader/xattr-reader.ts';
import { indexedAttrs, type MemberAttrs } from './member-attrs.ts';
import type { FileSource } from './entry-source.ts';
import { addSparseFileMember, isSparsePrepared } from './sparse-file-member.ts';
import { specialKindOf } from './special-member.ts';
import { fsPathOf, nameFromBytes } from '#core/model/file-name.ts';
import { OwnerNames } from '../reader/owner-names.ts';

export interface ImageCounts {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  changed: number;
  unreadable: number;
  excluded: number;
  skipped: number;
  /** Files an incremental left in earlier images. */
  unchanged: number;
  /** FIFOs, character and block devices (special-member.ts). */
  specials: number;
}

export interface ImageWriterOptions {
  /** Where the index goes (the storage unit of the copy). */
  store: ObjectStore;
  /** Where the fragments go. */
  sinks: FragmentSinks;
  backupId: string;
  pool: BufferPool;
  fragmentSizeBytes: number;
  /** Files whose member data is above this are stored as pieces (piece-member.ts); default DEFAULT_PIECE_BYTES. */
  pieceBytes?: number;
  signal?: AbortSignal;
  /** For an incremental: the base image's index by path, its backup id, and its storage unit (for its block maps). */
  base?: { backupId: string; entries: ReadonlyMap<string, IndexEntry>; store?: ObjectStore };
  /** How long `abort` waits for each upload to stop before leaving it behind (default ABORT_GRACE_MS). */
  abortGraceMs?: number;
  /** Files of this size and above are stored by blocks (default LARGE_FILE_BYTES; BackupDeps.largeFileBytes). */
  largeFileBytes?: number;
  /** Where the time goes: reads, file hashing, fragment writes. */
  meters: DataPathMeters;
  /** Content and link targets from elsewhere than `sourcePath` (the offhost mover's device; entry-source.ts). */
  files?: FileSource;
}

/** Bigger reads do not go faster and would only raise the memory in flight. */
const MAX_READ_BYTES = 1024 * 1024;

/**
 * A walk entry with its file-system work done ahead of packing (see
 * `prepare`): a regular file opened with its first chunk read, a symlink's
 * target read, or why it could not be.
 */
export interface PreparedEntry {
  entry: WalkEntry;
  file?: PreparedFile;
  /** An incremental's unchanged file: its base index line, and no data to read. */
  unchanged?: IndexEntry;
  linkTarget?: string;
  unreadable?: string;
  /** A large file (block-map.ts): read and stored by blocks when it is added, not ahead. */
  large?: boolean;
  /** Its extended attributes and ACLs, or why they could not be read (xattr-reader.ts). */
  attrs?: AttrResult;
}

/**
 * Turns walk entries into image members: each entry goes into the current
 * fragment and gets its line in the index. Owns the hard-link table (the
 * first path of a multiply-linked file carries the data; later paths become
 * hard-link members pointing at it) and the list of what could not be read.
 */
export class ImageWriter {
  readonly problems = new ProblemList();
  readonly counts: ImageCounts = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, changed: 0, unreadable: 0, excluded: 0, skipped: 0, unchanged: 0, specials: 0 };
  dataBytes = 0;
  currentPath: string | undefined;
  readonly #options: ImageWriterOptions;
  readonly #keys: ReturnType<typeof imageKeys>;
  readonly #fragments: FragmentWriter;
  readonly #index: IndexWriter;
  readonly #blockMaps: BlockMapWriter;
  readonly #hardlinks = new Map<string, string>();
  /** dev:ino of multiply-linked files already prepared, so their later paths are not opened for nothing. */
  readonly #linksPrepared = new Set<string>();
  readonly #chunkBytes: number;
  readonly #fileMeters: FileMeters;
  /** Opens, reads and hashes files off the main thread; ended by `finish` or `abort`. */
  readonly #reader = ReaderThread.take();
  /** Extended attributes and ACLs, read a directory at a time as the walk lists it. */
  readonly #xattrs = new XattrReader();
  #xattrToolReported = false;
  #indexDone = false;
  /** uid/gid → names, read once per job on the first member (owner-names.ts). */
  #ownerNames: OwnerNames | undefined;

  constructor(options: ImageWriterOptions) {
    this.#options = options;
    this.#keys = imageKeys(options.backupId);
    this.#fragments = new FragmentWriter({ sinks: options.sinks, pool: options.pool, fragmentSizeBytes: options.fragmentSizeBytes, abortGraceMs: options.abortGraceMs, sinkSpan: options.meters.sinkSpan, checksumTime: options.meters.fragmentHash });
    this.#fileMeters = { read: options.meters.read, hash: options.meters.fileHash };
    this.#index = new IndexWriter(options.store, this.#keys.index, options.abortGraceMs);
    this.#blockMaps = new BlockMapWriter(options.store, options.backupId, options.abortGraceMs);
    this.#chunkBytes = Math.min(options.pool.sizeBytes, MAX_READ_BYTES);
  }

  /** Members written so far. */
  get fileCount(): number {
    return this.#index.entries;
  }

  /** Image bytes produced so far. */
  get bytes(): number {
    return this.#fragments.bytes;
  }

  /** The store's error when an upload failed: the cause of the job's failure. */
  get storeFailure(): unknown {
    return this.#fragments.failure ?? this.#blockMaps.failure ?? this.#index.failure;
  }

  /**
   * Removes what was completely written (fragments, through the sink that
   * holds each, and the index), for clean-up after a failure. Returns what
   * could not be removed, as `what: reason`, with the uploads `abort` gave
   * up waiting for. Call after `abort`.
   */
  async discardWritten(): Promise<string[]> {
    const leftovers: string[] = [...this.#fragments.abandoned];
    if (this.#index.abandoned !== undefined) leftovers.push(this.#index.abandoned);
    if (this.#blockMaps.abandoned !== undefined) leftovers.push(this.#blockMaps.abandoned);
    const attempt = async (what: string, remove: () => Promise<void>): Promise<void> => {
      try {
        await remove();
      } catch (error) {
        leftovers.push(`${what}: could not remove partial image object (${messageOf(error)})`);
      }
    };
    for (const { fragment, sink } of this.#fragments.fragments) await attempt(fragmentLabel(fragment), () => sink.discard(fragment.location));
    if (this.#blockMaps.written) await attempt(this.#blockMaps.key, () => this.#options.store.delete(this.#blockMaps.key));
    if (this.#indexDone) await attempt(this.#keys.index, () => this.#options.store.delete(this.#keys.index));
    return leftovers;
  }

  unreadable(path: string, reason: string): void {
    this.counts.unreadable += 1;
    this.problems.add(path, reason);
  }

  /**
   * The file-system part of adding an entry, safe to run for several entries
   * ahead of `add` (in walk order). Never rejects for a file that cannot be
   * read: that becomes `unreadable`.
   */
  async prepare(entry: WalkEntry): Promise<PreparedEntry> {
    // An entry source's attributes come with its entries (the offhost mover's map, read where the image is mounted): there is no file system to read them from here.
    const files = this.#options.files;
    const attrs = files ? Promise.resolve(files.attrs(entry)) : this.#xattrs.of(entry.sourcePath);
    const prepared = await this.#prepareData(entry);
    const found = await attrs;
    if (found.attrs !== undefined || found.problem !== undefined) prepared.attrs = found;
    return prepared;
  }

  /** The walk listed a directory: its entries' attributes are read now, in one batch (walker.ts `onListed`). */
  listed(sourceDir: string, names: readonly string[]): void {
    this.#xattrs.listed(sourceDir, names);
  }

  /** The walk found subdirectories it will enter: their attributes are read ahead (walker.ts `onSubdirectories`). */
  subdirectories(sourceDirs: readonly string[]): void {
    this.#xattrs.ahead(sourceDirs);
  }

  async #prepareData(entry: WalkEntry): Promise<PreparedEntry> {
    const { sourcePath, stats } = entry;
    if (stats.isSymbolicLink()) {
      try {
        // As bytes: a target that is not UTF-8 keeps them (core/model/file-name.ts).
        return { entry, linkTarget: this.#options.files ? await this.#options.files.readlink(entry) : nameFromBytes(await readlink(fsPathOf(sourcePath), { encoding: 'buffer' })) };
      } catch (error) {
        return { entry, unreadable: error instanceof UnreadableFileError ? error.reason : describeFsError(error, 'vanished during backup') };
      }
    }
    if (!stats.isFile()) return { entry };
    const unchanged = this.#unchangedSinceBase(entry);
    if (unchanged) return { entry, unchanged };
    const linkKey = linkKeyOf(stats);
    if (linkKey === undefined && !this.#options.files && (stats.size >= (this.#options.largeFileBytes ?? LARGE_FILE_BYTES) || hasHolesOnDisk(stats))) return { entry, large: true };
    if (linkKey !== undefined) {
      if (this.#linksPrepared.has(linkKey)) return { entry };
      this.#linksPrepared.add(linkKey);
    }
    try {
      return { entry, file: await this.#prepareFile(entry) };
    } catch (error) {
      if (error instanceof UnreadableFileError) return { entry, unreadable: error.reason };
      throw error;
    }
  }

  /** The walk's lstats, made on the reader thread in one message a batch (see walker.ts's `lstat` hook). */
  lstat(paths: string[]): ReturnType<ReaderThread['lstat']> {
    return this.#reader.lstat(paths);
  }

  /** Sends the reads `prepare` asked for so far to the reader thread now (see ReaderThread.flush). */
  flushReads(): void {
    this.#reader.flush();
  }

  /** Releases what `prepare` holds when the entry will not be added. */
  async dispose(prepared: PreparedEntry): Promise<void> {
    await prepared.file?.dispose();
  }

  /** Packs a prepared entry into the image and indexes it. Call in walk order. */
  async add(prepared: PreparedEntry): Promise<void> {
    const { path, stats } = prepared.entry;
    this.currentPath = path;
    if (path === '/') return; // the root itself has no member name; its contents follow
    this.#attrProblems(prepared);
    const attrs = prepared.attrs?.attrs;
    if (stats.isDirectory()) {
      const spec = this.#spec(path, 'directory', stats, attrs);
      await this.#record(spec, await this.#fragments.add(packHeader(spec)), undefined, stats);
      this.counts.directories += 1;
    } else if (stats.isSymbolicLink()) {
      if (prepared.linkTarget === undefined) return this.unreadable(path, prepared.unreadable ?? 'cannot read the link');
      const spec = { ...this.#spec(path, 'symlink', stats, attrs), linkTarget: prepared.linkTarget };
      await this.#record(spec, await this.#fragments.add(packHeader(spec)));
      this.counts.symlinks += 1;
    } else if (stats.isFile()) {
      await this.#addFile(prepared);
    } else {
      await this.#addSpecial(path, stats, attrs);
    }
  }

  /** A FIFO or device becomes a member of its own type; a socket (or what cannot be kept) is listed as skipped, so the job ends with status 1. */
  async #addSpecial(path: string, stats: BigIntStats, attrs: MemberAttrs | undefined): Promise<void> {
    const kind = specialKindOf(stats);
    if ('skip' in kind) {
      this.counts.skipped += 1;
      this.problems.add(path, kind.skip);
      return;
    }
    const spec: MemberSpec = { ...this.#spec(path, kind.type, stats, attrs), ...(kind.device ? { device: kind.device } : {}) };
    await this.#record(spec, await this.#fragments.add(packHeader(spec)));
    this.counts.specials += 1;
  }

  /** Closes the last fragment and the index; after this every object but the manifest is durable. */
  async finish(): Promise<{ fragments: Fragment[]; indexKey: string; indexSha256: string; indexEntries: number; indexChunks?: IndexChunkTable }> {
    await this.#xattrs.clear();
    await this.#reader.close();
    const fragments = await this.#fragments.finish();
    await this.#blockMaps.finish();
    const index = await this.#index.finish();
    this.#indexDone = true;
    return { fragments, indexKey: this.#keys.index, indexSha256: index.sha256, indexEntries: index.entries, ...(index.chunks ? { indexChunks: index.chunks } : {}) };
  }

  /** Stops every upload in flight; they leave nothing behind, or are named by `discardWritten` if they would not stop. Never rejects. */
  async abort(reason: unknown): Promise<void> {
    await Promise.all([this.#fragments.abort(reason), this.#index.abort(reason), this.#blockMaps.abort(reason), this.#reader.close(), this.#xattrs.clear()]);
  }

  /**
   * An incremental leaves a file out when the base image has it with the
   * same size, mtime, ctime and inode: then its content cannot have changed
   * (a rewrite moves mtime or ctime; a replacement changes the inode).
   * Multiply-linked files are always taken, so hard-link members never point
   * at a path outside the image.
   */
  #unchangedSinceBase(entry: WalkEntry): IndexEntry | undefined {
    const before = this.#options.base?.entries.get(entry.path);
    const { stats } = entry;
    // A copy that changed while it was read is never a base: the file is read again.
    if (!before || before.type !== 'file' || before.sha256 === undefined || before.changed !== undefined || stats.nlink > 1n) return undefined;
    const same = before.size === Number(stats.size) && before.mtimeMs === Number(stats.mtimeNs) / 1e6 && before.ctimeMs === Number(stats.ctimeNs) / 1e6 && before.ino === String(stats.ino);
    return same ? before : undefined;
  }

  async #addUnchanged(before: IndexEntry, walked: BigIntStats, attrs: MemberAttrs | undefined): Promise<void> {
    const spec = this.#spec(before.path, 'file', walked, attrs);
    const entry: IndexEntry = {
      path: before.path,
      type: 'file',
      mode: spec.mode,
      uid: spec.uid,
      gid: spec.gid,
      size: before.size,
      mtimeMs: before.mtimeMs,
      fragment: 0,
      offset: 0,
      sha256: before.sha256,
      ctimeMs: before.ctimeMs,
      ino: before.ino,
      fromBackupId: before.fromBackupId ?? this.#options.base!.backupId,
      ...indexedAttrs(attrs),
    };
    // Every image lists the block maps of all its large files, so the next incremental reads its base's only.
    const map = await this.#baseBlockMap(before);
    if (map) entry.blockMap = await this.#blockMaps.add(map);
    this.counts.unchanged += 1;
    await this.#index.add(entry);
  }

  async #addFile(prepared: PreparedEntry): Promise<void> {
    const { path, sourcePath, stats: walked } = prepared.entry;
    const attrs = prepared.attrs?.attrs;
    if (prepared.unchanged) return this.#addUnchanged(prepared.unchanged, walked, attrs);
    if (prepared.large) return this.#addLarge(prepared.entry, attrs);
    const linkKey = linkKeyOf(walked);
    const first = linkKey === undefined ? undefined : this.#hardlinks.get(linkKey);
    if (first !== undefined) {
      await prepared.file?.dispose();
      const spec = { ...this.#spec(path, 'link', walked), linkTarget: first };
      await this.#record(spec, await this.#fragments.add(packHeader(spec)));
      this.counts.hardlinks += 1;
      return;
    }
    if (prepared.unreadable !== undefined) return this.unreadable(path, prepared.unreadable);
    let file = prepared.file;
    if (!file) {
      // Skipped ahead as a later link of a file whose first path then could not be read.
      try {
        file = await this.#prepareFile(prepared.entry);
      } catch (error) {
        if (!(error instanceof UnreadableFileError)) throw error;
        return this.unreadable(path, error.reason);
      }
    }
    // A file that changed while it was read is stored again, as a new member of the same name, up to MAX_FILE_READS
    // reads in all (docs/image-format.md, Files that change while they are read): its bytes are in the fragment
    // already. A copy's line waits until the next copy is stored, to say whether one follows it.
    let reads = 0;
    let torn: { spec: MemberSpec; place: MemberPlace; sha256: string; stats: FileStats; pieces?: IndexEntry['pieces']; problem: string } | undefined;
    for (;;) {
      const spec = this.#spec(path, 'file', file.stats, attrs);
      let place: MemberPlace & { result: CopyResult; pieces?: IndexEntry['pieces'] };
      try {
        // A file whose reader knows its holes (the offhost mover) is stored sparse when it fits one piece.
        const current = file;
        const sparse = isSparsePrepared(current) ? await addSparseFileMember(this.#fragments, spec, current, this.#pieceBytes, this.#options.signal) : undefined;
        place = sparse ?? (await addFileMember(this.#fragments, spec, this.#pieceBytes, (write) => current.copyTo(write, this.#options.signal)));
      } finally {
        await file.dispose();
      }
      const copied = place.result;
      reads += copied.reads ?? 1;
      this.dataBytes += spec.size;
      if (torn) await this.#record(torn.spec, torn.place, torn.sha256, torn.stats, { ...(torn.pieces ? { pieces: torn.pieces } : {}), changed: 'superseded' });
      torn = undefined;
      if (!copied.changed || reads >= MAX_FILE_READS) {
        if (copied.problem) {
          // The member is in the image, but it is not the file as it is now.
          this.counts.changed += 1;
          this.problems.add(path, copied.changed ? changedText(copied.problem, reads) : copied.problem);
        }
        await this.#record(spec, place, copied.sha256, file.stats, { ...(place.pieces ? { pieces: place.pieces } : {}), ...(copied.changed ? { changed: 'inconsistent' as const } : {}) });
        break;
      }
      torn = { spec, place, sha256: copied.sha256, stats: file.stats, ...(place.pieces ? { pieces: place.pieces } : {}), problem: copied.problem! };
      try {
        file = await this.#reader.prepare(sourcePath, walked, this.#chunkBytes, this.#fileMeters, MAX_FILE_READS - reads);
      } catch (error) {
        if (!(error instanceof UnreadableFileError)) throw error;
        // The torn copy is all the image has: kept, never as good.
        this.counts.changed += 1;
        this.problems.add(path, `${torn.problem} (read ${reads} time${reads > 1 ? 's' : ''}), and could not be read again (${error.reason}); its last copy is kept but never restored as good`);
        await this.#record(torn.spec, torn.place, torn.sha256, torn.stats, { ...(torn.pieces ? { pieces: torn.pieces } : {}), changed: 'inconsistent' });
        break;
      }
    }
    if (linkKey !== undefined) this.#hardlinks.set(linkKey, path);
    this.counts.files += 1;
  }

  /** Opens a file and reads its first chunk: on the reader thread, or through the file source when there is one. */
  #prepareFile(entry: WalkEntry): Promise<PreparedFile> {
    const files = this.#options.files;
    const read = (sourcePath: string, walked: BigIntStats): Promise<PreparedFile> => this.#reader.prepare(sourcePath, walked, this.#chunkBytes, this.#fileMeters);
    return files ? files.prepare(entry, this.#chunkBytes, this.#fileMeters, read) : read(entry.sourcePath, entry.stats);
  }

  get #pieceBytes(): number {
    return this.#options.pieceBytes ?? DEFAULT_PIECE_BYTES;
  }

  /** A large file, stored by blocks (large-file.ts): a block diff against its base version when there is one with a block map. */
  async #addLarge({ path, sourcePath, stats: walked }: WalkEntry, attrs: MemberAttrs | undefined): Promise<void> {
    const before = this.#options.base?.entries.get(path);
    const map = before ? await this.#baseBlockMap(before) : undefined;
    const base = map && before ? { backupId: before.fromBackupId ?? this.#options.base!.backupId, map } : undefined;
    // As for other files: one that changed while it was read is stored again, up to MAX_FILE_READS reads.
    let torn: LargeFileResult | undefined;
    for (let reads = 1; ; reads++) {
      let stored: LargeFileResult;
      try {
        stored = await packLargeFile({ sourcePath, walked, spec: (stats) => this.#spec(path, 'file', stats, attrs), fragments: this.#fragments, pieceBytes: this.#pieceBytes, base, signal: this.#options.signal, meters: this.#fileMeters, hasher: () => this.#reader.blockHasher(BLOCK_BYTES, this.#fileMeters.hash) });
      } catch (error) {
        if (!(error instanceof UnreadableFileError)) throw error;
        if (!torn) return this.unreadable(path, error.reason);
        // The torn copy is all the image has: kept, never as good.
        this.counts.files += 1;
        this.counts.changed += 1;
        this.problems.add(path, `${torn.problem} (read ${reads - 1} time${reads > 2 ? 's' : ''}), and could not be read again (${error.reason}); its last copy is kept but never restored as good`);
        return this.#recordLarge(torn, 'inconsistent');
      }
      this.dataBytes += stored.spec.size;
      if (torn) await this.#recordLarge(torn, 'superseded');
      torn = undefined;
      if (!stored.changed || reads >= MAX_FILE_READS) {
        if (stored.problem) {
          this.counts.changed += 1;
          this.problems.add(path, stored.changed ? changedText(stored.problem, reads) : stored.problem);
        }
        this.counts.files += 1;
        return this.#recordLarge(stored, stored.changed ? 'inconsistent' : undefined);
      }
      torn = stored;
    }
  }

  /**
   * A large file's line. A copy that changed while it was read gets no block
   * map: no later block diff is based on it (block-chain.ts and the next
   * incremental take lines with a block map only).
   */
  async #recordLarge(stored: LargeFileResult, changed: IndexEntry['changed']): Promise<void> {
    const blocks: Pick<IndexEntry, 'blockMap' | 'unchangedBlocksIn' | 'pieces' | 'changed'> = changed ? { changed } : { blockMap: await this.#blockMaps.add(stored.hashes) };
    if (stored.unchangedBlocksIn) blocks.unchangedBlocksIn = stored.unchangedBlocksIn;
    if (stored.pieces) blocks.pieces = stored.pieces;
    await this.#record(stored.spec, stored.place, stored.sha256, stored.stats, blocks);
  }

  /** The base version's block map, read from the base image's block-map object; undefined when it has none or it does not verify. */
  async #baseBlockMap(before: IndexEntry): Promise<Buffer | undefined> {
    const base = this.#options.base;
    if (!before.blockMap || !base?.store) return undefined;
    return readBlockMap(base.store, base.backupId, before.blockMap, before.size);
  }

  #spec(path: string, type: MemberSpec['type'], stats: FileStats, attrs?: MemberAttrs): MemberSpec {
    const uid = Number(stats.uid);
    const gid = Number(stats.gid);
    const names = (this.#ownerNames ??= OwnerNames.ofThisHost());
    const uname = names.userName(uid);
    const gname = names.groupName(gid);
    return {
      path,
      type,
      mode: Number(stats.mode) & 0o7777,
      uid,
      gid,
      mtimeNs: stats.mtimeNs,
      size: type === 'file' ? Number(stats.size) : 0,
      ...(uname !== undefined ? { uname } : {}),
      ...(gname !== undefined ? { gname } : {}),
      ...(attrs ? { attrs } : {}),
    };
  }

  /** Attributes that could not be read make the job partly successful (status 1): the member is kept, with what could be read. */
  #attrProblems(prepared: PreparedEntry): void {
    if (prepared.attrs?.problem !== undefined) this.problems.add(prepared.entry.path, prepared.attrs.problem);
    const tool = this.#xattrs.toolProblem;
    if (tool !== undefined && !this.#xattrToolReported) {
      this.#xattrToolReported = true;
      this.problems.addLine(tool);
    }
  }

  async #record(spec: MemberSpec, place: MemberPlace, sha256?: string, stats?: FileStats, blocks?: Pick<IndexEntry, 'blockMap' | 'unchangedBlocksIn' | 'pieces' | 'changed'>): Promise<void> {
    const entry: IndexEntry = {
      path: spec.path,
      type: indexTypeOf(spec.type),
      mode: spec.mode,
      uid: spec.uid,
      gid: spec.gid,
      size: spec.size,
      mtimeMs: Number(spec.mtimeNs) / 1e6,
      fragment: place.fragment,
      offset: place.offset,
    };
    if (spec.linkTarget !== undefined) entry.linkTarget = spec.linkTarget;
    if (spec.device) entry.device = spec.device;
    if (sha256 !== undefined) entry.sha256 = sha256;
    if (stats !== undefined) {
      entry.ctimeMs = Number(stats.ctimeNs) / 1e6;
      entry.ino = String(stats.ino);
    }
    if (blocks) Object.assign(entry, blocks);
    // Hard-link members carry none: the attributes are the inode's, restored with its first path.
    if (spec.type !== 'link') Object.assign(entry, indexedAttrs(spec.attrs));
    await this.#index.add(entry);
  }
}

/**
 * A file with holes on disk (fewer blocks allocated than its size, GNU
 * tar's test) is stored as a sparse member whatever its size, from one
 * 64 KiB block up (holes are found block by block: a smaller file has none
 * to give). Small files without holes keep the fast path.
 */
function hasHolesOnDisk(stats: BigIntStats): boolean {
  return stats.size >= BigInt(BLOCK_BYTES) && stats.blocks * 512n < stats.size;
}

/** The index's name of a member type (a hard link is `hardlink` there). */
function indexTypeOf(type: MemberSpec['type']): IndexEntry['type'] {
  return type === 'link' ? 'hardlink' : type;
}

/** Identity of a file with more than one name; undefined for a file with one. */
function linkKeyOf(stats: BigIntStats): string | undefined {
  return stats.nlink > 1n ? `${stats.dev}:${stats.ino}` : undefined;
}
