import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, realpath, rename, symlink, unlink, utimes, type FileHandle } from './fs-names.ts';
import path from 'node:path';
import { extract as createExtract, type Extract, type Header } from 'tar-stream';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeFsError } from '../reader/fs-errors.ts';
import { ProblemList } from '../reader/problems.ts';
import { FileWriter, type SmallFileOutcome } from './file-writer.ts';
import { InFlight, type InFlightLimits } from './in-flight.ts';
import { parseMemberPath } from './safe-path.ts';
import { drainedOrClosed } from './tar-drain.ts';
import { memberMtimeNs, memberMtimeSeconds, pathOfMember } from '../image/tar-member.ts';
import { ExactTimes } from './exact-times.ts';
import { keepRawPaxNames } from './raw-pax-names.ts';
import { hasRawBytes } from '#core/model/file-name.ts';
import { RestoreOwners } from './restore-owners.ts';
import { makeSpecialNode, SpecialNodeError } from './special-node.ts';
import { isSparseMember, realMemberName, SparseMapError } from '../image/sparse-member.ts';
import { restoreSparseMember, type BaseContent } from './sparse-restore.ts';
import type { MemberDigests } from '../image/fragment-digest.ts';
import { PiecedFile } from './pieced-file.ts';
import { partialPathOf, reopenPartial } from './partial-file.ts';

export interface ExtractMember {
  /** The name as stored in the archive, before any checks. */
  name: string;
  header: Header;
  /** Byte offset of the member's own header block in the archive (after any pax header). */
  offset: number;
}

/** Whether to restore a member and, for files, the sha256 its content must have. */
export interface MemberDecision {
  restore: boolean;
  sha256?: string;
  /** A block diff (a sparse member holding changed blocks only): writes the file's earlier version first (block-chain.ts). */
  base?: BaseContent;
  /**
   * A piece of a file stored as pieces (image/piece-member.ts): the piece
   * at `fileOffset` of a file of `fileSize` bytes. The first (offset 0)
   * opens the file, each next one must continue it; after the last the
   * whole file's `sha256` is checked and it is put in place. The caller
   * checks pieces against the index (restore/piece-tracker.ts) and drops an
   * unfinished file with `dropPieced`.
   */
  piece?: {
    fileOffset: number;
    fileSize: number;
    fragment?: number;
    /**
     * The first piece of this Read of a file whose earlier pieces an
     * earlier Read of the same tape restore job wrote: it continues the
     * partial file that Read kept (`keepPieced`, partial-file.ts), which must
     * hold exactly `fileOffset` bytes.
     */
    resume?: boolean;
  };
}

/** Called for every member in archive order, before any check or write. */
export type DecideMember = (member: ExtractMember) => MemberDecision | Promise<MemberDecision>;

export interface RestoreProgress {
  files: number;
  bytes: number;
  currentPath: string;
}

/**
 * What to do with an entry already at a member's path: `overwrite` replaces
 * files, symlinks and links; `rename` keeps each one (and a directory in the
 * way of a non-directory) as `NAME.cairn-old`, `NAME.cairn-old.1`, ...
 * Existing directories are always merged into, never replaced.
 */
export type ExistingEntryAction = 'overwrite' | 'rename';

export interface ExtractOptions {
  /** Created if missing. Nothing is ever written outside it. */
  targetDir: string;
  /** Restore owners (uid/gid); defaults to "when running as root". Best effort. */
  restoreOwnership?: boolean;
  /** Owners by number only, never by the member's user and group names (GNU tar's --numeric-owner; restore-owners.ts). */
  numericOwner?: boolean;
  /** How times Node cannot set exactly are set (exact-times.ts); `python: false` uses touch alone. */
  exactTimes?: { python?: string | false };
  /** Default `overwrite`. */
  existing?: ExistingEntryAction;
  /** A file whose content failed its sha256 (it is not put in place); collected in `corrupt` when absent. */
  onCorrupt?: (clientPath: string, reason: string) => void;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
  /** Files written at once while the parser reads on, and the content bytes they may hold (default DEFAULT_IN_FLIGHT). */
  inFlight?: InFlightLimits;
  /**
   * Names the partial files a pieced file is kept in between the Reads of
   * one tape restore job (its job number): needed by `keepPieced` and by a
   * piece with `resume`.
   */
  partialTag?: string;
}

/**
 * Small files are the restore's bottleneck: each costs half a dozen file
 * system calls (open, write, chmod, utimes, close, rename). They are written
 * in batches of up to 128 by a worker thread (file-writer.ts); 512 in
 * flight keep a few batches queued while the parser goes on; 32 MiB bounds
 * the memory.
 */
export const DEFAULT_IN_FLIGHT: InFlightLimits = { files: 512, bytes: 32 * 1024 * 1024 };

/** Files up to this size are read whole, verified, then written by one task in flight; larger ones are streamed to disk as they are read. */
const BUFFERED_FILE_MAX = 4 * 1024 * 1024;

/** A streamed file is written in batches of this size (fewer, bigger writes), one batch written while the next is read. */
const WRITE_BATCH = 1024 * 1024;

/** A tar header block: a member's data starts this far after its (own) header. */
const HEADER_BLOCK = 512;

/** How a file's content sha256 is had: hashed here as it is read, or the one the fragment check computed from the same bytes (`shared`). */
type ContentHash = { shared: () => string } | undefined;

/**
 * Writes a file's content to `handle` (a fresh temporary file) and returns
 * the bytes written, or undefined when the content failed its check (already
 * reported) and must not be put in place. A plain member's is one write
 * of its verified content (small files with `existing: 'rename'`; with
 * `overwrite` they go to the writer thread instead, `#batchedFile`) or
 * `#streamedContent` (large ones);
 * other encodings of a file's content (sparse members, block differences)
 * plug in here, with `#writeFile` doing the rest (temporary name, owner,
 * mode, times, rename).
 */
export type ContentWriter = (handle: FileHandle, temp: string) => Promise<number | undefined>;

export interface ExtractResult {
  /** Members restored (files, directories, links). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Files whose content matched the sha256 they were expected to have. */
  verified: number;
  /** Members not restored, as `name: reason`: they would escape the target, or the file system cannot hold them. */
  refused: string[];
  /** Existing entries kept under another name (`existing: 'rename'`), as `path: kept as path.cairn-old`. */
  renamed: string[];
  /** Files not restored because their content did not match, as `path: reason` (without `onCorrupt`). */
  corrupt: string[];
}

interface DeferredDirectory {
  absolute: string;
  mode: number;
  mtime: number;
  mtimeNs: bigint;
  uid: number;
  gid: number;
}

/** The member being read when an archive turns out to be malformed. */
interface Position {
  name: string;
  offset: number;
  dataRead: boolean;
}

const TEMP_PREFIX = '.cairn-restore-';
const KEPT_SUFFIX = '.cairn-old';

/** One member as tar-stream's extractor yields it: a readable stream of its data, with its header. */
type Entry = Extract extends AsyncIterable<infer S> ? S : never;

/**
 * Writes tar members under a target directory and never outside it.
 *
 * - Names that are absolute or contain `..` are refused (safe-path.ts).
 * - Every parent inside the target is checked with `lstat` (or was created
 *   by us): a member whose parent is, or goes through, a symlink is refused,
 *   so `link -> /etc` followed by `link/passwd` cannot write to /etc.
 * - Files are written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW)
 *   and renamed over the final name; symlinks and hard links replace what is
 *   there with unlink + create. None of these follow a symlink at the final
 *   name. Directories are never replaced, so a checked parent stays checked.
 * - Hard-link targets must be regular files inside the target.
 * - A name the file system cannot hold (ENAMETOOLONG, EILSEQ) is refused and
 *   listed; the other members are still restored.
 * - Directory modes and mtimes are set by `finish`, after their contents;
 *   callers run it on every exit path (it is idempotent), so a failed or
 *   aborted restore does not leave directories at the 0700 they are made with.
 *
 * The checks protect against what the archive contains. A local user racing
 * the restore inside the target directory could still swap a checked parent
 * for a symlink between check and use (Node has no openat); restore into a
 * directory only trusted users can write to.
 *
 * One extractor can take several archives in turn (the fragments of one
 * image), so hard links may point into an earlier fragment.
 *
 * Files are written while the parser reads on (up to `inFlight` of them);
 * a member at a path, under it, or hard-linking to it waits for the file
 * being written there, so the result is what restoring the members one by
 * one would give.
 */
export class TarExtractor {
  readonly #target: string;
  readonly #options: ExtractOptions;
  readonly #ownership: boolean;
  readonly #owners: RestoreOwners;
  /** Sets, at `finish`, the times Node's utimes could not set exactly (nanoseconds, before 1970). */
  readonly #times: ExactTimes;
  /** Directories inside the target (relative paths) known to be real directories. */
  readonly #knownDirectories = new Set<string>();
  readonly #deferred: DeferredDirectory[] = [];
  readonly #refused: string[] = [];
  readonly #renamed = new ProblemList();
  readonly #corrupt: string[] = [];
  readonly #inFlight: InFlight;
  /** Writes small files in batches on a worker thread (started at the first one). */
  readonly #writer: FileWriter;
  /** With `existing: 'rename'`, files are put in place one at a time, so two never pick the same `.cairn-old` name. */
  #placing: Promise<unknown> = Promise.resolve();
  #files = 0;
  #bytes = 0;
  #verified = 0;
  /** Temporary names are this restore's random tag and a counter: unguessable before it starts, and one randomBytes call instead of one per file. */
  readonly #tempTag = randomBytes(8).toString('hex');
  #temps = 0;
  /** The file stored as pieces being restored, open across members and archives until its last piece. */
  #pieced: PiecedFile | undefined;
  /** The file whose partial file (from an earlier Read) was refused: its later pieces are passed over without another report. */
  #refusedPartial: string | undefined;

  private constructor(target: string, options: ExtractOptions) {
    this.#target = target;
    this.#options = options;
    this.#ownership = options.restoreOwnership ?? process.getuid?.() === 0;
    this.#owners = new RestoreOwners(options.numericOwner ?? false);
    this.#times = new ExactTimes(options.exactTimes);
    this.#writer = new FileWriter(target);
    this.#inFlight = new InFlight(options.inFlight ?? DEFAULT_IN_FLIGHT, () => this.#writer.flush());
    // A cancel stops the writer between two files: nothing new is begun, the file being written is finished.
    options.signal?.addEventListener('abort', () => this.#writer.abort(), { once: true });
  }

  /** Creates the target if missing. Rejects with 174 when it cannot be created or resolved. */
  static async open(options: ExtractOptions): Promise<TarExtractor> {
    try {
      await mkdir(options.targetDir, { recursive: true });
      return new TarExtractor(await realpath(options.targetDir), options);
    } catch (error) {
      throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot create the restore target ${options.targetDir}: ${describeFsError(error)}`, { cause: error });
    }
  }

  /**
   * Extracts one tar archive; `label` names it in errors (`fragment 2 (key)`).
   * `baseOffset` is where `source` starts in the archive it is part of (a
   * ranged read), so member offsets are the archive's. Files are written
   * while the parser reads on (see InFlight); all of them are settled (put
   * in place, reported corrupt, or their temporary file removed) before it
   * resolves or rejects. Rejects with a CairnError: MalformedArchiveError (2001) when the archive
   * is malformed or truncated, naming the member being read; 85 when `source`
   * fails; 174 when the target cannot be written; 150 when the signal
   * aborts; or with whatever `decide` throws.
   *
   * `digests`: the sha256 of each member's data, computed by whoever
   * checksums `source` as it streams (restore's fragment check for
   * `tar-members-1`): a file's content is then checked against the digest
   * of the very bytes the parser hands on, and not hashed a second time.
   */
  async extract(source: AsyncIterable<Uint8Array>, decide?: DecideMember, label = 'the archive', baseOffset = 0, digests?: MemberDigests): Promise<void> {
    const extract = createExtract();
    keepRawPaxNames(extract);
    let parserError: unknown;
    extract.on('error', (error: unknown) => {
      parserError ??= error;
    });
    const feeding = feed(source, extract);
    let position: Position | undefined;
    try {
      for await (const entry of extract) {
        if (this.#options.signal?.aborted) throw terminated(this.#options.signal.reason);
        position = { name: entry.header.name, offset: baseOffset + entry.offset, dataRead: false };
        // Members before this one are done with: their digests (taken or not) are forgotten.
        digests?.passed(position.offset);
        await this.#member(entry, position.offset, decide, digests);
        position.dataRead = true;
      }
    } catch (error) {
      extract.destroy();
      const fed = await feeding;
      // The files already read are settled first: none is left half-written, and none is written after this rejects.
      // A file that could not be written is the graver failure: the target is in trouble, not just this archive.
      const unwritten = await this.#inFlight.drain().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      throw this.#failure(unwritten ?? error, { sourceError: fed.error, parserError, label, position });
    }
    const fed = await feeding;
    try {
      await this.#inFlight.drain();
    } catch (error) {
      throw this.#failure(error, { sourceError: undefined, parserError: undefined, label, position });
    }
    if (fed.error !== undefined) throw this.#failure(fed.error, { sourceError: fed.error, parserError, label, position });
  }

  /**
   * Sets the deferred directory metadata (deepest first) and returns the
   * totals. Safe to call more than once and after a failed `extract`.
   */
  async finish(): Promise<ExtractResult> {
    // A pieced file whose last piece never came is not a file: its caller has listed why.
    await this.dropPieced();
    // Every batch was answered when the last `extract` settled.
    await this.#writer.close();
    const deferred = this.#deferred.splice(0).reverse();
    for (const dir of deferred) {
      try {
        const stats = await lstatOrUndefined(dir.absolute);
        if (!stats?.isDirectory()) continue;
        if (this.#ownership) await lchown(dir.absolute, dir.uid, dir.gid).catch(() => undefined);
        await chmod(dir.absolute, dir.mode);
        await utimes(dir.absolute, dir.mtime, dir.mtime);
        this.#times.note(dir.absolute, dir.mtimeNs, dir.mtime);
      } catch (error) {
        throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot set the mode and time of ${dir.absolute}: ${describeFsError(error)}`, { cause: error });
      }
    }
    // After every other time was set: nothing restore does later touches these.
    for (const problem of await this.#times.finish()) this.#refused.push(problem);
    return this.totals();
  }

  /** What was restored so far. */
  totals(): ExtractResult {
    return { files: this.#files, bytes: this.#bytes, verified: this.#verified, refused: [...this.#refused], renamed: this.#renamed.report(), corrupt: [...this.#corrupt] };
  }

  #failure(error: unknown, context: { sourceError: unknown; parserError: unknown; label: string; position: Position | undefined }): CairnError {
    if (this.#options.signal?.aborted) return terminated(this.#options.signal.reason);
    if (error instanceof CairnError) return error;
    const { sourceError, label, position } = context;
    if (sourceError !== undefined) {
      if (sourceError instanceof CairnError) return sourceError;
      return new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${label}: ${messageOf(sourceError)}`, { cause: sourceError });
    }
    // What is left comes from tar-stream's parser: the archive itself is bad.
    const cause = context.parserError ?? (error instanceof MemberDataError ? error.cause : error);
    const where =
      position === undefined
        ? 'at its first header'
        : `${position.dataRead ? 'after' : 'in the data of'} member ${position.name} (header at byte ${position.offset})`;
    return new MalformedArchiveError(`${label} is not a readable tar archive ${where}: ${describeTarError(cause)}`, { cause });
  }

  async #member(entry: Entry, offset: number, decide: DecideMember | undefined, digests: MemberDigests | undefined): Promise<void> {
    const header = entry.header;
    // A GNU sparse member's header name is a stand-in; its real name is in a pax record.
    const name = realMemberName(header);
    const decision = decide ? await decide({ name, header, offset }) : { restore: true };
    if (!decision.restore) return skipData(entry);
    const parsed = parseMemberPath(name);
    if ('refused' in parsed) {
      // `./` stands for the target itself, which exists.
      if (!(header.type === 'directory' && parsed.refused === 'empty path')) this.#refuse(name, parsed.refused);
      return skipData(entry);
    }
    try {
      const parentProblem = await this.#checkParents(parsed.segments, true);
      if (parentProblem) {
        this.#refuse(name, parentProblem);
        return await skipData(entry);
      }
      const absolute = path.join(this.#target, parsed.relative);
      // A file still being written at this path is put in place first, as if members were restored one by one.
      await this.#inFlight.settled(parsed.relative);
      switch (header.type) {
        case 'file':
        case 'contiguous-file':
          return await this.#file(entry, parsed.relative, absolute, decision, contentHash(digests, offset + HEADER_BLOCK, header.size));
        case 'directory':
          await skipData(entry);
          return await this.#directory(parsed.relative, absolute, header);
        case 'symlink':
          await skipData(entry);
          return await this.#symlink(parsed.relative, absolute, header);
        case 'link':
          await skipData(entry);
          return await this.#hardlink(parsed.relative, absolute, header);
        case 'fifo':
        case 'character-device':
        case 'block-device':
          await skipData(entry);
          return await this.#special(parsed.relative, absolute, header);
        default:
          this.#refuse(name, `unsupported member type ${String(header.type)}`);
          return await skipData(entry);
      }
    } catch (error) {
      if (error instanceof CairnError || error instanceof MemberDataError) throw error;
      if (isUnrepresentableName(error)) {
        // This member cannot exist here; the rest of the archive can.
        this.#refuse(name, describeFsError(error));
        return await skipData(entry);
      }
      throw this.#writeError(name, error);
    }
  }

  #writeError(name: string, error: unknown): CairnError {
    return new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot restore ${name} under ${this.#target}: ${describeFsError(error)}`, { cause: error });
  }

  /**
   * Checks (and with `create`, makes) each parent of a member inside the
   * target. Returns why the member must be refused, or undefined.
   */
  async #checkParents(segments: readonly string[], create: boolean): Promise<string | undefined> {
    for (let i = 1; i < segments.length; i++) {
      const relative = segments.slice(0, i).join('/');
      if (this.#knownDirectories.has(relative)) continue;
      await this.#inFlight.settled(relative);
      const absolute = path.join(this.#target, relative);
      let stats = await lstatOrUndefined(absolute);
      if (!stats && create) {
        await mkdir(absolute).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        });
        stats = await lstatOrUndefined(absolute);
      }
      if (!stats) return `parent ${relative} does not exist`;
      if (stats.isSymbolicLink()) return `parent ${relative} is a symbolic link`;
      if (!stats.isDirectory()) return `parent ${relative} is not a directory`;
      this.#knownDirectories.add(relative);
    }
    return undefined;
  }

  /**
   * A file up to BUFFERED_FILE_MAX is read and verified here, then written
   * and put in place by a task in flight while the parser goes on; a larger
   * one is streamed to disk here, in batches, and verified at its end.
   */
  async #file(entry: Entry, relative: string, absolute: string, decision: MemberDecision, hash: ContentHash): Promise<void> {
    const header = entry.header;
    if (decision.piece) return this.#piece(entry, relative, absolute, decision, decision.piece);
    // A sparse member (holes, or a block diff on an earlier version) is written segment by segment at its offsets, by sparse-restore.ts.
    const sparse = isSparseMember(header) || decision.base !== undefined;
    if (sparse || header.size > BUFFERED_FILE_MAX) {
      if ((await lstatOrUndefined(absolute))?.isDirectory() && !this.#mayRenameDirectory(relative)) {
        this.#refuse(header.name, 'a directory is in the way');
        return skipData(entry);
      }
      if (sparse) return this.#writeFile(relative, absolute, header, decision, (handle, temp) => this.#sparseContent(entry, relative, handle, temp, decision));
      return this.#writeFile(relative, absolute, header, decision, (handle) => this.#streamedContent(entry, relative, handle, decision, hash));
    }
    await this.#inFlight.room(header.size);
    // `rename` puts files in place one at a time, choosing `.cairn-old` names: that stays here.
    // The writer thread takes names as strings; one that is not UTF-8 (its bytes kept as lone surrogates) is written here, by its bytes.
    if (this.#options.existing !== 'rename' && !hasRawBytes(relative)) return this.#batchedFile(entry, relative, absolute, decision, hash);
    const content = await readWhole(entry);
    const sha256 = hash ? hash.shared() : createHash('sha256').update(content).digest('hex');
    if (decision.sha256 !== undefined && sha256 !== decision.sha256) {
      // Never written: a file that fails its sha256 does not reach the disk.
      this.#reportCorrupt(pathOfMember(relative), contentMismatch(sha256, decision.sha256));
      return;
    }
    this.#inFlight.add(relative, content.byteLength, async () => {
      // Nothing is begun after a cancel; what was begun is finished and put in place (it was verified).
      if (this.#options.signal?.aborted) return;
      try {
        await this.#writeFile(relative, absolute, header, decision, async (handle) => {
          await writeFully(handle, content);
          return content.byteLength;
        });
      } catch (error) {
        if (error instanceof CairnError) throw error;
        if (!isUnrepresentableName(error)) throw this.#writeError(header.name, error);
        this.#refuse(header.name, describeFsError(error));
      }
    });
  }

  /**
   * The client path of the pieced file being restored and the byte it is
   * waiting for, or undefined.
   */
  get piecedOpen(): { path: string; next: number; size: number } | undefined {
    const pieced = this.#pieced;
    return pieced === undefined ? undefined : { path: pathOfMember(pieced.relative), next: pieced.next, size: pieced.size };
  }

  /** Drops the pieced file being restored (its temporary file is removed); false when there is none. The caller reports why. */
  async dropPieced(): Promise<boolean> {
    const pieced = this.#pieced;
    if (pieced === undefined) return false;
    this.#pieced = undefined;
    await pieced.handle.close().catch(() => undefined);
    await unlink(pieced.temp).catch(() => undefined);
    return true;
  }

  /** One piece of a file stored as pieces: the first opens a temporary file, each next one appends to it, the last puts the verified file in place. */
  async #piece(entry: Entry, relative: string, absolute: string, decision: MemberDecision, piece: NonNullable<MemberDecision['piece']>): Promise<void> {
    const header = entry.header;
    const clientPath = pathOfMember(relative);
    if (isSparseMember(header)) {
      if (this.#pieced?.relative === relative) await this.dropPieced();
      this.#reportCorrupt(clientPath, `not restored: its piece ${header.name} is also a sparse member, which pieces never are`);
      return skipData(entry);
    }
    if (piece.resume === true) {
      await this.dropPieced();
      const problem = await this.#resumePieced(relative, absolute, header, decision, piece);
      if (problem !== undefined) {
        this.#refusedPartial = relative;
        this.#reportCorrupt(clientPath, `not restored: ${problem}`);
        return skipData(entry);
      }
    } else if (piece.fileOffset === 0) {
      await this.dropPieced();
      if ((await lstatOrUndefined(absolute))?.isDirectory() && !this.#mayRenameDirectory(relative)) {
        this.#refuse(header.name, 'a directory is in the way');
        return skipData(entry);
      }
      const temp = this.#tempName(absolute);
      const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      this.#pieced = new PiecedFile({ relative, absolute, temp, handle, header, size: piece.fileSize, sha256: decision.sha256 });
    }
    const pieced = this.#pieced;
    // The later pieces of a file whose partial file was refused: already listed once.
    if (pieced === undefined && piece.resume !== true && piece.fileOffset > 0 && this.#refusedPartial === relative) return skipData(entry);
    const refusal = pieced?.relative !== relative ? `its piece ${header.name} (file bytes from ${piece.fileOffset}) comes with no earlier piece of it being restored` : pieced.refusal(piece.fileOffset, header.size, piece.fileSize);
    if (pieced === undefined || refusal !== undefined) {
      if (pieced?.relative === relative) await this.dropPieced();
      this.#reportCorrupt(clientPath, `not restored: ${refusal}`);
      return skipData(entry);
    }
    try {
      await pieced.append(memberData(entry), piece.fragment);
    } catch (error) {
      await this.dropPieced();
      throw error;
    }
    if (!pieced.complete) return;
    this.#pieced = undefined;
    await this.#placePieced(pieced);
  }

  /**
   * Continues a pieced file from the partial file an earlier Read of this
   * job kept: the file is then that partial file (written on, and renamed
   * into place after its last piece, or removed if dropped). Its mode,
   * owner and times are this piece's header's (checked against the index
   * line like the first piece's). Returns why it cannot be continued; a
   * private file of the wrong size there is removed (it has this job's
   * name, and no Read can continue it); anything else is left alone.
   */
  async #resumePieced(relative: string, absolute: string, header: Header, decision: MemberDecision, piece: NonNullable<MemberDecision['piece']>): Promise<string | undefined> {
    const tag = this.#options.partialTag;
    if (tag === undefined) return `its piece ${header.name} continues a partial file, and this restore keeps none`;
    const partial = partialPathOf(absolute, relative, tag);
    const reopened = await reopenPartial(partial, piece.fileOffset);
    if ('problem' in reopened) {
      if (reopened.remove) await unlink(partial).catch(() => undefined);
      return reopened.problem;
    }
    this.#pieced = new PiecedFile({ relative, absolute, temp: partial, handle: reopened.handle, header, size: piece.fileSize, sha256: decision.sha256, next: piece.fileOffset, hash: reopened.hash });
    return undefined;
  }

  /**
   * Keeps the pieced file being restored, unfinished, for the next Read of
   * this tape restore job (its next piece is on a later volume): renamed to
   * its partial file name (partial-file.ts), private, and not counted as
   * restored. Returns that name; undefined when there is none.
   */
  async keepPieced(): Promise<string | undefined> {
    const pieced = this.#pieced;
    if (pieced === undefined) return undefined;
    const tag = this.#options.partialTag;
    if (tag === undefined) throw new CairnError(StatusCode.INTERNAL_ERROR, `the pieced file ${pathOfMember(pieced.relative)} cannot be kept for a later Read: this restore names no partial files`);
    this.#pieced = undefined;
    const partial = partialPathOf(pieced.absolute, pieced.relative, tag);
    try {
      await pieced.handle.close();
      if (pieced.temp !== partial) await rename(pieced.temp, partial);
      return partial;
    } catch (error) {
      await unlink(pieced.temp).catch(() => undefined);
      throw this.#writeError(pieced.header.name, error);
    }
  }

  /** A pieced file whose last piece is in: checked against its sha256, given its owner, mode and times, and renamed into place. */
  async #placePieced(pieced: PiecedFile): Promise<void> {
    let closed = false;
    let placed = false;
    try {
      const sha256 = pieced.digest();
      if (pieced.sha256 !== undefined && sha256 !== pieced.sha256) {
        this.#reportCorrupt(pathOfMember(pieced.relative), `${contentMismatch(sha256, pieced.sha256)} (the file joined from its ${pieced.pieces} pieces${pieced.fragments.length > 0 ? ` in fragment${pieced.fragments.length > 1 ? 's' : ''} ${pieced.fragments.join(', ')}` : ''})`);
        return;
      }
      const { handle, header } = pieced;
      if (this.#ownership) await handle.chown(...this.#owners.ownerOf(header)).catch(() => undefined);
      await handle.chmod(header.mode & 0o7777);
      const mtime = memberMtimeSeconds(header);
      await handle.utimes(mtime, mtime);
      await handle.close();
      closed = true;
      placed = await this.#place(pieced.relative, pieced.absolute, pieced.temp, realMemberName(header));
      if (!placed) return;
      this.#times.note(pieced.absolute, memberMtimeNs(header), mtime);
      this.#restored(pieced.relative, pieced.size);
      if (pieced.sha256 !== undefined) this.#verified += 1;
    } finally {
      if (!closed) await pieced.handle.close().catch(() => undefined);
      if (!placed) await unlink(pieced.temp).catch(() => undefined);
    }
  }

  /** Writes a sparse member (or block diff) through sparse-restore.ts and checks the whole file's sha256 once it is assembled. */
  async #sparseContent(entry: Entry, relative: string, handle: FileHandle, temp: string, decision: MemberDecision): Promise<number | undefined> {
    const { bytes, sha256 } = await sparseContent(entry, handle, temp, decision);
    if (decision.sha256 !== undefined && sha256 !== decision.sha256) {
      this.#reportCorrupt(pathOfMember(relative), contentMismatch(sha256, decision.sha256));
      return undefined;
    }
    return bytes;
  }

  /**
   * A small file with `existing: 'overwrite'`: its content is read into the
   * writer's current batch and the worker checks its sha256, writes it under
   * a temporary name, sets owner, mode and times and renames it into place
   * (file-writer.ts), exactly as `#writeFile` does; its task in flight
   * settles when the batch is answered. When the fragment check already
   * hashed its bytes (`hash`), that digest is checked here and a file that
   * fails it never reaches the writer.
   */
  async #batchedFile(entry: Entry, relative: string, absolute: string, decision: MemberDecision, hash: ContentHash): Promise<void> {
    const header = entry.header;
    const view = this.#writer.reserve(header.size);
    let filled = 0;
    for await (const chunk of memberData(entry)) {
      // tar-stream yields exactly `size` bytes, or fails (MemberDataError).
      view.set(chunk, filled);
      filled += chunk.byteLength;
    }
    // Nothing is begun after a cancel.
    if (this.#options.signal?.aborted) return;
    if (hash && decision.sha256 !== undefined) {
      const sha256 = hash.shared();
      // Never written: its reserved room is taken by the next file.
      if (sha256 !== decision.sha256) return this.#reportCorrupt(pathOfMember(relative), contentMismatch(sha256, decision.sha256));
    }
    const [uid, gid] = this.#owners.ownerOf(header);
    const outcome = this.#writer.add(
      {
        temp: this.#tempName(absolute),
        absolute,
        mode: header.mode & 0o7777,
        mtime: memberMtimeSeconds(header),
        uid,
        gid,
        chown: this.#ownership,
        ...(decision.sha256 === undefined || hash ? {} : { sha256: decision.sha256 }),
      },
      view.subarray(0, filled),
    );
    this.#inFlight.add(relative, filled, async () => this.#batchedOutcome(await outcome, relative, header, filled, decision, absolute));
  }

  #batchedOutcome(outcome: SmallFileOutcome, relative: string, header: Header, bytes: number, decision: MemberDecision, absolute: string): void {
    const name = header.name;
    switch (outcome.status) {
      case 'placed':
        this.#times.note(absolute, memberMtimeNs(header), memberMtimeSeconds(header));
        this.#restored(relative, bytes);
        if (decision.sha256 !== undefined) this.#verified += 1;
        return;
      case 'directory':
        return this.#refuse(name, 'a directory is in the way');
      case 'refused':
        return this.#refuse(name, outcome.reason);
      case 'corrupt':
        // Never written: the worker checks the sha256 before it opens anything.
        return this.#reportCorrupt(pathOfMember(relative), contentMismatch(outcome.sha256, decision.sha256 ?? ''));
      case 'skipped':
        return;
      case 'failed':
        if (!isUnrepresentableName(outcome.error)) throw this.#writeError(name, outcome.error);
        return this.#refuse(name, describeFsError(outcome.error));
    }
  }

  /** Streams a large member to `handle` in batches, hashing as it goes (unless the fragment check does): one batch is written while the next is read. */
  async #streamedContent(entry: Entry, relative: string, handle: FileHandle, decision: MemberDecision, contentHash: ContentHash): Promise<number | undefined> {
    const hash = contentHash ? undefined : createHash('sha256');
    let bytes = 0;
    let writing: Promise<void> = Promise.resolve();
    // The parser's chunks are written as they are (one writev per batch), not copied: they are
    // slices of the source's chunks, which no source reuses (tar-stream itself keeps them while it parses).
    let batch: Uint8Array[] = [];
    let filled = 0;
    try {
      for await (const chunk of memberData(entry)) {
        hash?.update(chunk);
        bytes += chunk.byteLength;
        batch.push(chunk);
        filled += chunk.byteLength;
        if (filled >= WRITE_BATCH) {
          await writing;
          writing = writevFully(handle, batch);
          batch = [];
          filled = 0;
        }
      }
      await writing;
      if (filled > 0) await writevFully(handle, batch);
    } catch (error) {
      // The write under way settles before the caller closes the handle.
      await writing.catch(() => undefined);
      throw error;
    }
    const sha256 = hash ? hash.digest('hex') : contentHash!.shared();
    if (decision.sha256 !== undefined && sha256 !== decision.sha256) {
      this.#reportCorrupt(pathOfMember(relative), contentMismatch(sha256, decision.sha256));
      return undefined;
    }
    return bytes;
  }

  /**
   * Writes a file under a fresh temporary name next to its final one
   * (O_EXCL|O_NOFOLLOW), sets its owner, mode and times, and renames it over
   * the final name only once its content is written and verified; on any
   * failure the temporary file is removed, so no half-written file is ever
   * under a member's name.
   */
  async #writeFile(relative: string, absolute: string, header: Header, decision: MemberDecision, content: ContentWriter): Promise<void> {
    const temp = this.#tempName(absolute);
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let closed = false;
    let placed = false;
    try {
      const bytes = await content(handle, temp);
      if (bytes === undefined) return;
      if (this.#ownership) await handle.chown(...this.#owners.ownerOf(header)).catch(() => undefined);
      await handle.chmod(header.mode & 0o7777);
      const mtime = memberMtimeSeconds(header);
      await handle.utimes(mtime, mtime);
      await handle.close();
      closed = true;
      placed = await this.#place(relative, absolute, temp, header.name);
      if (!placed) return;
      this.#times.note(absolute, memberMtimeNs(header), mtime);
      this.#restored(relative, bytes);
      if (decision.sha256 !== undefined) this.#verified += 1;
    } finally {
      if (!closed) await handle.close().catch(() => undefined);
      if (!placed) await unlink(temp).catch(() => undefined);
    }
  }

  /** Renames a finished temporary file over the member's name; false (refused) when a directory is in the way. */
  async #place(relative: string, absolute: string, temp: string, name: string): Promise<boolean> {
    if (this.#options.existing === 'rename') {
      const placing = this.#placing.then(async () => {
        // Only a verified file displaces what is there.
        const existing = await lstatOrUndefined(absolute);
        if (existing?.isDirectory() && !this.#mayRenameDirectory(relative)) {
          this.#refuse(name, 'a directory is in the way');
          return false;
        }
        if (existing) await this.#keepAside(relative, absolute);
        await rename(temp, absolute);
        return true;
      });
      this.#placing = placing.catch(() => undefined);
      return placing;
    }
    try {
      // rename(2) replaces a file or symlink and fails on a directory: no lstat needed first.
      await rename(temp, absolute);
      return true;
    } catch (error) {
      if (!(await lstatOrUndefined(absolute))?.isDirectory()) throw error;
      this.#refuse(name, 'a directory is in the way');
      return false;
    }
  }

  async #directory(relative: string, absolute: string, header: Header): Promise<void> {
    const existing = await lstatOrUndefined(absolute);
    if (!existing?.isDirectory()) {
      // A file or symlink in the way is removed (or kept aside), never followed.
      if (existing && this.#options.existing === 'rename') await this.#keepAside(relative, absolute);
      else if (existing) await unlink(absolute);
      // Owner-only until `finish` sets the real mode, so a read-only
      // directory can still receive its contents.
      await mkdir(absolute, 0o700);
    }
    this.#knownDirectories.add(relative);
    const [uid, gid] = this.#owners.ownerOf(header);
    this.#deferred.push({ absolute, mode: header.mode & 0o7777, mtime: memberMtimeSeconds(header), mtimeNs: memberMtimeNs(header), uid, gid });
    this.#restored(relative, 0);
  }

  async #symlink(relative: string, absolute: string, header: Header): Promise<void> {
    if (!header.linkname) return this.#refuse(header.name, 'symbolic link without a target');
    if (!(await this.#clearForLink(header.name, relative, absolute))) return;
    // The link's text is kept as it was, even when it points outside the
    // target: restore never follows it, and later members cannot go through it.
    await symlink(header.linkname, absolute);
    if (this.#ownership) await lchown(absolute, ...this.#owners.ownerOf(header)).catch(() => undefined);
    const mtime = memberMtimeSeconds(header);
    await lutimes(absolute, mtime, mtime);
    this.#times.note(absolute, memberMtimeNs(header), mtime);
    this.#restored(relative, 0);
  }

  /**
   * A FIFO or device node (special-node.ts): made where nothing is (what is
   * there is removed or kept aside, as for a link), then given its owner,
   * mode and times. A node that cannot be made (no CAP_MKNOD) is refused.
   */
  async #special(relative: string, absolute: string, header: Header): Promise<void> {
    if (!(await this.#clearForLink(header.name, relative, absolute))) return;
    try {
      await makeSpecialNode(absolute, header);
    } catch (error) {
      if (!(error instanceof SpecialNodeError)) throw error;
      return this.#refuse(header.name, `cannot make the ${header.type}: ${error.message}`);
    }
    // lchown and chmod act on the node itself: neither opens it (opening a FIFO would block).
    if (this.#ownership) await lchown(absolute, ...this.#owners.ownerOf(header)).catch(() => undefined);
    await chmod(absolute, header.mode & 0o7777);
    const mtime = memberMtimeSeconds(header);
    await lutimes(absolute, mtime, mtime);
    this.#times.note(absolute, memberMtimeNs(header), mtime);
    this.#restored(relative, 0);
  }

  async #hardlink(relative: string, absolute: string, header: Header): Promise<void> {
    const target = parseMemberPath(header.linkname ?? '');
    if ('refused' in target) return this.#refuse(header.name, `hard link target ${JSON.stringify(header.linkname)}: ${target.refused}`);
    if (target.relative === relative) return this.#refuse(header.name, 'hard link to itself');
    const parentProblem = await this.#checkParents(target.segments, false);
    if (parentProblem) return this.#refuse(header.name, `hard link target ${target.relative}: ${parentProblem}`);
    const targetPath = path.join(this.#target, target.relative);
    // The link waits for its target's file to be complete.
    await this.#inFlight.settled(target.relative);
    if (!(await lstatOrUndefined(targetPath))?.isFile()) return this.#refuse(header.name, `hard link target ${target.relative} is not a regular file in the target directory`);
    if (!(await this.#clearForLink(header.name, relative, absolute))) return;
    await link(targetPath, absolute);
    this.#restored(relative, 0);
  }

  /** Makes room for a link: removes (or keeps aside) what is there; refuses (returns false) when a directory is in the way. */
  async #clearForLink(name: string, relative: string, absolute: string): Promise<boolean> {
    const existing = await lstatOrUndefined(absolute);
    if (!existing) return true;
    if (this.#options.existing === 'rename' && (!existing.isDirectory() || this.#mayRenameDirectory(relative))) {
      await this.#keepAside(relative, absolute);
      return true;
    }
    if (existing.isDirectory()) {
      this.#refuse(name, 'a directory is in the way');
      return false;
    }
    await unlink(absolute);
    return true;
  }

  /** A directory this restore made or went through is never moved: later members rely on it. */
  #mayRenameDirectory(relative: string): boolean {
    return this.#options.existing === 'rename' && !this.#knownDirectories.has(relative);
  }

  /** Renames the entry at `absolute` to the first free `NAME.cairn-old[.N]` next to it. */
  async #keepAside(relative: string, absolute: string): Promise<void> {
    for (let n = 0; ; n++) {
      const suffix = n === 0 ? KEPT_SUFFIX : `${KEPT_SUFFIX}.${n}`;
      if (await lstatOrUndefined(`${absolute}${suffix}`)) continue;
      await rename(absolute, `${absolute}${suffix}`);
      this.#renamed.add(pathOfMember(relative), `kept as ${pathOfMember(relative)}${suffix}`);
      return;
    }
  }

  /** A fresh temporary name next to `absolute` (created with O_EXCL, so a name already taken fails rather than being followed). */
  #tempName(absolute: string): string {
    return path.join(path.dirname(absolute), `${TEMP_PREFIX}${this.#tempTag}-${(this.#temps++).toString(36)}`);
  }

  #reportCorrupt(clientPath: string, reason: string): void {
    if (this.#options.onCorrupt) this.#options.onCorrupt(clientPath, reason);
    else this.#corrupt.push(`${clientPath}: ${reason}`);
  }

  /** Lists a member that is not restored for a reason its caller found (it is then passed over with `decide`). */
  refuseMember(name: string, reason: string): void {
    this.#refuse(name, reason);
  }

  #refuse(name: string, reason: string): void {
    this.#refused.push(`${name}: ${reason}`);
  }

  #restored(relative: string, bytes: number): void {
    this.#files += 1;
    this.#bytes += bytes;
    this.#options.onProgress?.({ files: this.#files, bytes: this.#bytes, currentPath: pathOfMember(relative) });
  }
}

/**
 * Extracts one tar stream under `targetDir` with the protections of
 * TarExtractor. Rejects with CORRUPT_IMAGE (2001) if a file fails the sha256
 * that `decide` asked for, or the archive is malformed; otherwise resolves
 * with what was restored and what was refused. Directory modes are set
 * whatever the outcome.
 */
export async function extractTarStream(source: AsyncIterable<Uint8Array>, options: ExtractOptions & { decide?: DecideMember }): Promise<ExtractResult> {
  const extractor = await TarExtractor.open(options);
  try {
    await extractor.extract(source, options.decide);
  } finally {
    await extractor.finish();
  }
  const result = extractor.totals();
  if (result.corrupt.length > 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, `corrupt member: ${result.corrupt[0]}`, { details: result.corrupt });
  return result;
}

/** The archive itself is malformed or truncated (2001): what follows the break cannot be read. */
export class MalformedArchiveError extends CairnError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(StatusCode.CORRUPT_IMAGE, message, options);
    this.name = 'MalformedArchiveError';
  }
}

/** Reading a member's data failed: the parser found the archive broken (its error is the cause). */
class MemberDataError extends Error {}

/** A member's data; a failure of the parser surfaces as MemberDataError, not as a write error. */
async function* memberData(entry: Entry): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for await (const chunk of entry as AsyncIterable<Uint8Array>) yield chunk;
  } catch (error) {
    throw new MemberDataError('member data unreadable', { cause: error });
  }
}

/** A member's whole content, copied into one buffer of its header's size (the source may reuse its chunks). */
async function readWhole(entry: Entry): Promise<Buffer> {
  const content = Buffer.allocUnsafe(entry.header.size);
  let filled = 0;
  for await (const chunk of memberData(entry)) {
    // tar-stream yields exactly `size` bytes, or fails (MemberDataError).
    content.set(chunk, filled);
    filled += chunk.byteLength;
  }
  return filled === content.byteLength ? content : content.subarray(0, filled);
}

/**
 * The shared digest of the member data at tar offset `start` when `digests`
 * hashes it as one member of `size` bytes; undefined (hash it here) when
 * there is none or it reads the headers otherwise (e.g. a pax `size`).
 */
function contentHash(digests: MemberDigests | undefined, start: number, size: number): ContentHash {
  if (digests === undefined || size === 0 || !digests.covers(start, size)) return undefined;
  return {
    shared: () => {
      // The check saw every byte before the parser did, so the digest is there once the data has been read.
      const sha256 = digests.take(start);
      if (sha256 === undefined) throw new Error(`the fragment check has no digest of the member data at byte ${start}`);
      return sha256;
    },
  };
}

function contentMismatch(sha256: string, expected: string): string {
  return `content sha256 ${sha256} does not match the index (${expected})`;
}

/** A GNU sparse member, or a block diff on an earlier image's version: sparse-restore.ts writes it; a bad map is a malformed archive. */
async function sparseContent(entry: Entry, handle: FileHandle, temp: string, decision: MemberDecision): Promise<{ bytes: number; sha256: string }> {
  if (!isSparseMember(entry.header)) throw new MemberDataError('member data unreadable', { cause: new Error('the index says this file is a block diff, and its member is not a sparse member') });
  try {
    return await restoreSparseMember(memberData(entry), entry.header, handle, temp, decision.base);
  } catch (error) {
    if (error instanceof SparseMapError) throw new MemberDataError('member data unreadable', { cause: error });
    throw error;
  }
}

/**
 * Reads a member's data to the end without keeping it. A directory's size
 * field is ignored, as POSIX says (no data follows a directory header), and
 * tar-stream never feeds data to it: reading it would wait forever.
 */
async function skipData(entry: Entry): Promise<void> {
  if (entry.header.type === 'directory' && entry.header.size > 0) return;
  for await (const _chunk of memberData(entry)) {
    // skipped
  }
}

/** Feeds the archive to tar-stream with backpressure. Never rejects: a source error destroys the parser and is returned. */
async function feed(source: AsyncIterable<Uint8Array>, extract: Extract): Promise<{ error?: unknown }> {
  try {
    for await (const chunk of source) {
      if (extract.destroyed || extract.destroying) return {};
      if (!extract.write(chunk)) await drainedOrClosed(extract);
    }
    extract.end(undefined);
    return {};
  } catch (error) {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
    return { error };
  }
}

/** tar-stream's parser errors in an operator's words (its checksum error suggests gunzip, which never applies here). */
function describeTarError(error: unknown): string {
  const message = messageOf(error);
  if (message.startsWith('Invalid tar header. Maybe')) return 'a header block fails its checksum';
  if (message === 'Invalid tar header: unknown format.') return 'a header block has no ustar magic';
  if (message === 'Unexpected end of data') return 'the archive ends before the data its headers promise (truncated, or a size field too large)';
  if (message === 'Invalid header') return 'a header has an invalid size field';
  if (message === 'Header exceeds max size') return 'an extended header is larger than 4 MiB';
  return message;
}

/** The member's name cannot exist on this file system; other members can. */
function isUnrepresentableName(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENAMETOOLONG' || code === 'EILSEQ';
}

/** Writes `chunks` in order at the file position, however many calls the kernel takes. */
async function writevFully(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let left = chunks;
  while (left.length > 0) {
    let { bytesWritten } = await handle.writev(left);
    // A short write: drop what went out, and the written part of the chunk it stopped in.
    let i = 0;
    while (i < left.length && bytesWritten >= left[i]!.byteLength) bytesWritten -= left[i++]!.byteLength;
    left = i < left.length ? [left[i]!.subarray(bytesWritten), ...left.slice(i + 1)] : [];
  }
}

async function writeFully(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
}

async function lstatOrUndefined(absolute: string): Promise<Stats | undefined> {
  try {
    return await lstat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function terminated(reason: unknown): CairnError {
  return new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', reason === undefined ? {} : { cause: reason });
}
