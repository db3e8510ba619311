import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, realpath, rename, symlink, unlink, utimes, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { extract as createExtract, type Extract, type Header } from 'tar-stream';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseMemberPath } from './safe-path.ts';
import { memberMtimeSeconds, pathOfMember } from './tar-member.ts';

export interface ExtractMember {
  /** The name as stored in the archive, before any checks. */
  name: string;
  header: Header;
}

/** Whether to restore a member and, for files, the sha256 its content must have. */
export interface MemberDecision {
  restore: boolean;
  sha256?: string;
}

/** Called for every member in archive order, before any check or write. */
export type DecideMember = (member: ExtractMember) => MemberDecision | Promise<MemberDecision>;

export interface RestoreProgress {
  files: number;
  bytes: number;
  currentPath: string;
}

export interface ExtractOptions {
  /** Created if missing. Nothing is ever written outside it. */
  targetDir: string;
  /** Restore owners (uid/gid); defaults to "when running as root". Best effort. */
  restoreOwnership?: boolean;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
}

export interface ExtractResult {
  /** Members restored (files, directories, links). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Files whose content matched the sha256 they were expected to have. */
  verified: number;
  /** Members not restored because they would escape the target, as `name: reason`. */
  refused: string[];
  /** Files not restored because their content did not match, as `path: reason`. */
  corrupt: string[];
}

interface DeferredDirectory {
  absolute: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

const TEMP_PREFIX = '.cairn-restore-';

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
 * - Directory modes and mtimes are set by `finish`, after their contents.
 *
 * The checks protect against what the archive contains. A local user racing
 * the restore inside the target directory could still swap a checked parent
 * for a symlink between check and use (Node has no openat); restore into a
 * directory only trusted users can write to.
 *
 * One extractor can take several archives in turn (the fragments of one
 * image), so hard links may point into an earlier fragment.
 */
export class TarExtractor {
  readonly #target: string;
  readonly #options: ExtractOptions;
  readonly #ownership: boolean;
  /** Directories inside the target (relative paths) known to be real directories. */
  readonly #knownDirectories = new Set<string>();
  readonly #deferred: DeferredDirectory[] = [];
  readonly #refused: string[] = [];
  readonly #corrupt: string[] = [];
  #files = 0;
  #bytes = 0;
  #verified = 0;

  private constructor(target: string, options: ExtractOptions) {
    this.#target = target;
    this.#options = options;
    this.#ownership = options.restoreOwnership ?? process.getuid?.() === 0;
  }

  static async open(options: ExtractOptions): Promise<TarExtractor> {
    await mkdir(options.targetDir, { recursive: true });
    return new TarExtractor(await realpath(options.targetDir), options);
  }

  /**
   * Extracts one tar archive. Rejects with a CairnError: 232 when the archive
   * is malformed, 85 when `source` fails, 174 when the target cannot be
   * written, 150 when the signal aborts; or with whatever `decide` throws.
   */
  async extract(source: AsyncIterable<Uint8Array>, decide?: DecideMember): Promise<void> {
    const extract = createExtract();
    extract.on('error', () => undefined); // surfaces through the iteration below
    const feeding = feed(source, extract);
    try {
      for await (const entry of extract) {
        if (this.#options.signal?.aborted) throw terminated(this.#options.signal.reason);
        await this.#member(entry, decide);
      }
    } catch (error) {
      extract.destroy();
      const fed = await feeding;
      throw this.#failure(error, fed.error);
    }
    const fed = await feeding;
    if (fed.error !== undefined) throw this.#failure(fed.error, fed.error);
  }

  /** Sets the deferred directory metadata and returns the totals. */
  async finish(): Promise<ExtractResult> {
    for (const dir of this.#deferred.reverse()) {
      const stats = await lstatOrUndefined(dir.absolute);
      if (!stats?.isDirectory()) continue;
      if (this.#ownership) await lchown(dir.absolute, dir.uid, dir.gid).catch(() => undefined);
      await chmod(dir.absolute, dir.mode);
      await utimes(dir.absolute, dir.mtime, dir.mtime);
    }
    this.#deferred.length = 0;
    return { files: this.#files, bytes: this.#bytes, verified: this.#verified, refused: [...this.#refused], corrupt: [...this.#corrupt] };
  }

  #failure(error: unknown, sourceError: unknown): CairnError {
    if (this.#options.signal?.aborted) return terminated(this.#options.signal.reason);
    if (error instanceof CairnError) return error;
    if (sourceError !== undefined) return new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read the archive: ${messageOf(sourceError)}`, { cause: sourceError });
    // What is left comes from tar-stream's parser.
    return new CairnError(StatusCode.CORRUPT_IMAGE, `not a readable tar archive: ${messageOf(error)}`, { cause: error });
  }

  async #member(entry: Entry, decide: DecideMember | undefined): Promise<void> {
    const header = entry.header;
    const name = header.name;
    const decision = decide ? await decide({ name, header }) : { restore: true };
    if (!decision.restore) return discard(entry);
    const parsed = parseMemberPath(name);
    if ('refused' in parsed) {
      // `./` stands for the target itself, which exists.
      if (!(header.type === 'directory' && parsed.refused === 'empty path')) this.#refuse(name, parsed.refused);
      return discard(entry);
    }
    try {
      const parentProblem = await this.#checkParents(parsed.segments, true);
      if (parentProblem) {
        this.#refuse(name, parentProblem);
        return await discard(entry);
      }
      const absolute = path.join(this.#target, parsed.relative);
      switch (header.type) {
        case 'file':
        case 'contiguous-file':
          return await this.#file(entry, parsed.relative, absolute, decision);
        case 'directory':
          await discard(entry);
          return await this.#directory(parsed.relative, absolute, header);
        case 'symlink':
          await discard(entry);
          return await this.#symlink(parsed.relative, absolute, header);
        case 'link':
          await discard(entry);
          return await this.#hardlink(parsed.relative, absolute, header);
        default:
          this.#refuse(name, `unsupported member type ${String(header.type)}`);
          return await discard(entry);
      }
    } catch (error) {
      if (error instanceof CairnError) throw error;
      throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot restore ${name}: ${messageOf(error)}`, { cause: error });
    }
  }

  /**
   * Checks (and with `create`, makes) each parent of a member inside the
   * target. Returns why the member must be refused, or undefined.
   */
  async #checkParents(segments: readonly string[], create: boolean): Promise<string | undefined> {
    for (let i = 1; i < segments.length; i++) {
      const relative = segments.slice(0, i).join('/');
      if (this.#knownDirectories.has(relative)) continue;
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

  async #file(entry: Entry, relative: string, absolute: string, decision: MemberDecision): Promise<void> {
    const header = entry.header;
    if ((await lstatOrUndefined(absolute))?.isDirectory()) {
      this.#refuse(header.name, 'a directory is in the way');
      return discard(entry);
    }
    const temp = path.join(path.dirname(absolute), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let closed = false;
    let placed = false;
    try {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        await writeFully(handle, chunk);
        bytes += chunk.byteLength;
      }
      const sha256 = hash.digest('hex');
      if (decision.sha256 !== undefined && sha256 !== decision.sha256) {
        this.#corrupt.push(`${pathOfMember(relative)}: content sha256 ${sha256} does not match the index (${decision.sha256})`);
        return;
      }
      if (this.#ownership) await handle.chown(...ownerOf(header)).catch(() => undefined);
      await handle.chmod(header.mode & 0o7777);
      const mtime = memberMtimeSeconds(header);
      await handle.utimes(mtime, mtime);
      await handle.close();
      closed = true;
      await rename(temp, absolute);
      placed = true;
      this.#restored(relative, bytes);
      if (decision.sha256 !== undefined) this.#verified += 1;
    } finally {
      if (!closed) await handle.close().catch(() => undefined);
      if (!placed) await unlink(temp).catch(() => undefined);
    }
  }

  async #directory(relative: string, absolute: string, header: Header): Promise<void> {
    const existing = await lstatOrUndefined(absolute);
    if (!existing?.isDirectory()) {
      // A file or symlink in the way is removed, never followed.
      if (existing) await unlink(absolute);
      // Owner-only until `finish` sets the real mode, so a read-only
      // directory can still receive its contents.
      await mkdir(absolute, 0o700);
    }
    this.#knownDirectories.add(relative);
    const [uid, gid] = ownerOf(header);
    this.#deferred.push({ absolute, mode: header.mode & 0o7777, mtime: memberMtimeSeconds(header), uid, gid });
    this.#restored(relative, 0);
  }

  async #symlink(relative: string, absolute: string, header: Header): Promise<void> {
    if (!header.linkname) return this.#refuse(header.name, 'symbolic link without a target');
    if (!(await this.#clearForLink(header.name, absolute))) return;
    // The link's text is kept as it was, even when it points outside the
    // target: restore never follows it, and later members cannot go through it.
    await symlink(header.linkname, absolute);
    if (this.#ownership) await lchown(absolute, ...ownerOf(header)).catch(() => undefined);
    const mtime = memberMtimeSeconds(header);
    await lutimes(absolute, mtime, mtime);
    this.#restored(relative, 0);
  }

  async #hardlink(relative: string, absolute: string, header: Header): Promise<void> {
    const target = parseMemberPath(header.linkname ?? '');
    if ('refused' in target) return this.#refuse(header.name, `hard link target ${JSON.stringify(header.linkname)}: ${target.refused}`);
    if (target.relative === relative) return this.#refuse(header.name, 'hard link to itself');
    const parentProblem = await this.#checkParents(target.segments, false);
    if (parentProblem) return this.#refuse(header.name, `hard link target ${target.relative}: ${parentProblem}`);
    const targetPath = path.join(this.#target, target.relative);
    if (!(await lstatOrUndefined(targetPath))?.isFile()) return this.#refuse(header.name, `hard link target ${target.relative} is not a regular file in the target directory`);
    if (!(await this.#clearForLink(header.name, absolute))) return;
    await link(targetPath, absolute);
    this.#restored(relative, 0);
  }

  /** Removes a non-directory at `absolute`; refuses (returns false) when a directory is there. */
  async #clearForLink(name: string, absolute: string): Promise<boolean> {
    const existing = await lstatOrUndefined(absolute);
    if (existing?.isDirectory()) {
      this.#refuse(name, 'a directory is in the way');
      return false;
    }
    if (existing) await unlink(absolute);
    return true;
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
 * TarExtractor. Rejects with CORRUPT_IMAGE (232) if a file fails the sha256
 * that `decide` asked for; otherwise resolves with what was restored and
 * what was refused.
 */
export async function extractTarStream(source: AsyncIterable<Uint8Array>, options: ExtractOptions & { decide?: DecideMember }): Promise<ExtractResult> {
  const extractor = await TarExtractor.open(options);
  await extractor.extract(source, options.decide);
  const result = await extractor.finish();
  if (result.corrupt.length > 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, `corrupt member: ${result.corrupt[0]}`, { details: result.corrupt });
  return result;
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

function drainedOrClosed(extract: Extract): Promise<void> {
  if (extract.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** Reads a member's data to the end without keeping it. */
async function discard(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of entry) {
    // skipped
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

/** uid and gid, from pax records when ustar could not hold them. */
function ownerOf(header: Header): [number, number] {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const uid = pax.uid !== undefined && /^\d+$/.test(pax.uid) ? Number(pax.uid) : header.uid;
  const gid = pax.gid !== undefined && /^\d+$/.test(pax.gid) ? Number(pax.gid) : header.gid;
  return [uid, gid];
}

function terminated(reason: unknown): CairnError {
  return new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', reason === undefined ? {} : { cause: reason });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
