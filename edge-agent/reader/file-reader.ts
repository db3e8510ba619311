import { createHash } from 'node:crypto';
import { fsPathOf } from '#core/model/file-name.ts';
import { closeSync, constants, fstatSync, open as openCallback, read as readCallback, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import { describeFsError } from './fs-errors.ts';
import { BusyMeter } from '../transport/busy-meter.ts';

/** Where a file's time goes: reading it (the reader's busy time) and hashing it. */
export interface FileMeters {
  read: BusyMeter;
  hash: BusyMeter;
}

/*
 * File descriptors rather than FileHandles, and a deliberate split between
 * asynchronous and synchronous calls: `open` and `read` may wait for the
 * disk, so they go to the thread pool and several files are in flight at
 * once; `fstat` of an open file and `close` of a read-only one only touch
 * the in-memory inode, so they are made directly. Each thread-pool round
 * trip costs tens of microseconds, which is what limits a tree of small files.
 */
const openFd = promisify(openCallback);
const readFd = promisify(readCallback);

/** A file the walk found that cannot be backed up; `reason` is for the unreadable list. */
export class UnreadableFileError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'UnreadableFileError';
    this.reason = reason;
  }
}

export interface OpenedFile {
  fd: number;
  /** `fstat` of the open file: its size is what the tar header promises. */
  stats: BigIntStats;
}

/**
 * Opens a file the walk found, refusing to follow a symlink swapped in since
 * (O_NOFOLLOW) or to block on a FIFO swapped in (O_NONBLOCK), and checking it
 * is still the same regular file. Rejects with UnreadableFileError.
 * `sourcePath` is the walk entry's source (what was lstat'ed), not the name
 * the image records; reasons never name it, the caller reports them under
 * the recorded name.
 */
export async function openWalkedFile(sourcePath: string, walked: BigIntStats): Promise<OpenedFile> {
  let fd: number;
  try {
    fd = await openFd(fsPathOf(sourcePath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw new UnreadableFileError(describeFsError(error, 'vanished during backup'), { cause: error });
  }
  try {
    const stats = fstatSync(fd, { bigint: true });
    if (!stats.isFile() || stats.ino !== walked.ino || stats.dev !== walked.dev) throw new UnreadableFileError('replaced during backup');
    return { fd, stats };
  } catch (error) {
    closeSync(fd);
    if (error instanceof UnreadableFileError) throw error;
    throw new UnreadableFileError(describeFsError(error), { cause: error });
  }
}

/** The `fstat` fields of an opened file that the image records (a BigIntStats has them all). */
export type FileStats = Pick<BigIntStats, 'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'size' | 'mtimeNs' | 'ctimeNs'>;

/** Why the content stored differs from the file as it is now (see copyFileContent). */
export type ContentProblem = { kind: 'read-failed'; at: number; error: unknown } | { kind: 'shrank'; from: number; to: number } | { kind: 'grew'; size: number } | { kind: 'modified' };

/** A content problem in words, for the unreadable list; the one wording of both readers (this one and reader-thread.ts). */
export function problemText(problem: ContentProblem): string {
  switch (problem.kind) {
    case 'read-failed':
      return `read failed at byte ${problem.at} (${describeFsError(problem.error)}); stored zeros from there`;
    case 'shrank':
      return `changed during backup: shrank from ${problem.from} to ${problem.to} bytes; stored zeros from there`;
    case 'grew':
      return `changed during backup: grew beyond ${problem.size} bytes; stored the first ${problem.size}`;
    case 'modified':
      return 'changed during backup: modified while being read';
  }
}

export interface CopyResult {
  sha256: string;
  /** Set when what was stored differs from the file as it is now: the reason, for the unreadable list. */
  problem?: string;
  /**
   * Set with `problem` when the file changed while it was read (its size,
   * mtime or ctime moved, or it shrank or grew under the reader), rather
   * than failing to read: the copy may be torn, and reading the file again
   * may give a consistent one (image-writer.ts does, up to MAX_FILE_READS).
   */
  changed?: true;
  /** Reads of the file from its start that this copy took, when more than one (a small file read again on the reader thread). */
  reads?: number;
}

/**
 * How many times a file that changed while it was read is read in all
 * before its last copy is kept as inconsistent (docs/image-format.md, Files
 * that change while they are read). A small file that fits in the reader's
 * first chunk is read again on the reader thread before any of it is packed;
 * a bigger one is stored again as a new member of the same name.
 */
export const MAX_FILE_READS = 3;

/** The unreadable list's text for a file whose last copy changed while it was read, after `reads` reads. */
export function changedText(problem: string, reads: number): string {
  return reads > 1 ? `${problem} (read ${reads} times); its last copy is kept but never restored as good` : problem;
}

/**
 * A regular file opened for backup with its first chunk already read, so
 * that several files can be opened and read ahead of the one being packed
 * (a walk of small files is otherwise one file-system round trip after
 * another). A file that fits in the first chunk is closed at once; a bigger
 * one stays open and streams the rest in `copyTo`. Memory: one chunk.
 */
export interface PreparedFile {
  /** `fstat` at open; `stats.size` is the size the tar header promises. */
  readonly stats: FileStats;
  /**
   * Streams exactly `stats.size` bytes to `write` (see copyFileContent for
   * files that change meanwhile), then closes the file. Call once.
   */
  copyTo(write: (chunk: Uint8Array) => Promise<void>, signal?: AbortSignal): Promise<CopyResult>;
  /** Closes the file without copying it (it became a hard link, or the backup stopped). */
  dispose(): Promise<void>;
}

export async function prepareFile(sourcePath: string, walked: BigIntStats, chunkBytes: number, meters: FileMeters = { read: new BusyMeter(), hash: new BusyMeter() }): Promise<PreparedFile> {
  const { fd, stats } = await meters.read.track(() => openWalkedFile(sourcePath, walked));
  const reader = new ContentReader(fd, Number(stats.size), chunkBytes, meters.read);
  let head: Buffer | undefined;
  let open = true;
  const release = (): void => {
    if (open) closeSync(fd);
    open = false;
  };
  try {
    head = await reader.next();
    if (reader.done) {
      reader.checkUnchanged(stats);
      release();
    }
  } catch (error) {
    release();
    throw error;
  }
  return {
    stats,
    async copyTo(write, signal) {
      try {
        const hash = createHash('sha256');
        const pass = async (chunk: Uint8Array): Promise<void> => {
          meters.hash.start();
          hash.update(chunk);
          meters.hash.stop();
          if (chunk.byteLength > 0) await write(chunk);
        };
        if (head) await pass(head);
        head = undefined;
        await copyRest(reader, pass, signal);
        if (open) reader.checkUnchanged(stats);
        return reader.problem ? { sha256: hash.digest('hex'), problem: reader.problem } : { sha256: hash.digest('hex') };
      } finally {
        release();
      }
    },
    async dispose() {
      head = undefined;
      release();
    },
  };
}

/**
 * Streams exactly `size` bytes of an open file to `write`, hashing them as
 * they pass; nothing is held beyond the chunk in flight.
 *
 * The tar header already promised `size` bytes, so the member must have them
 * whatever the file does meanwhile (as GNU tar does): a file that shrank or
 * fails to read is zero-filled to `size`, one that grew is cut at `size`, and
 * the result names the problem. The sha256 is of the bytes stored, so a
 * restore verifies what the image holds.
 */
export async function copyFileContent(
  fd: number,
  size: number,
  write: (chunk: Uint8Array) => Promise<void>,
  options: { chunkBytes: number; signal?: AbortSignal; mtimeNs?: bigint; ctimeNs?: bigint },
): Promise<CopyResult> {
  const hash = createHash('sha256');
  const reader = new ContentReader(fd, size, options.chunkBytes);
  await copyRest(
    reader,
    async (chunk) => {
      hash.update(chunk);
      if (chunk.byteLength > 0) await write(chunk);
    },
    options.signal,
  );
  if (options.mtimeNs !== undefined) reader.checkUnchanged({ mtimeNs: options.mtimeNs, ...(options.ctimeNs === undefined ? {} : { ctimeNs: options.ctimeNs }) });
  return reader.problem ? { sha256: hash.digest('hex'), problem: reader.problem } : { sha256: hash.digest('hex') };
}

/** A read-only block of zeros; chunks handed on are never written to, so one copy serves every padding. */
const ZEROS = Buffer.alloc(64 * 1024);

async function copyRest(reader: ContentReader, pass: (chunk: Uint8Array) => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  while (!reader.done) {
    signal?.throwIfAborted();
    const chunk = await reader.next();
    if (chunk) await pass(chunk);
  }
  for (let missing = reader.size - reader.position; missing > 0; missing = reader.size - reader.position) {
    const zeros = ZEROS.subarray(0, Math.min(ZEROS.length, missing));
    reader.position += zeros.byteLength;
    await pass(zeros);
  }
}

/** Reads a file's content as `size` bytes, noting (not throwing) when the file does not match. */
class ContentReader {
  readonly fd: number;
  readonly size: number;
  readonly chunkBytes: number;
  readonly #readTime: BusyMeter | undefined;
  position = 0;
  done = false;
  problem: string | undefined;

  /** `readTime` counts the time reads are in flight (the reader's busy time). */
  constructor(fd: number, size: number, chunkBytes: number, readTime?: BusyMeter) {
    this.fd = fd;
    this.size = size;
    this.chunkBytes = chunkBytes;
    this.#readTime = readTime;
  }

  /** The next chunk; undefined once the content is read or cannot be read further. */
  async next(): Promise<Buffer | undefined> {
    if (this.done) return undefined;
    const remaining = this.size - this.position;
    const want = Math.min(this.chunkBytes, remaining);
    // On the last read ask for one byte more: getting it means the file grew,
    // and we learn that without another read.
    const last = want === remaining;
    const buffer = Buffer.allocUnsafe(last ? want + 1 : want);
    let bytesRead: number;
    try {
      this.#readTime?.start();
      try {
        ({ bytesRead } = await readFd(this.fd, buffer, 0, buffer.length, this.position));
      } finally {
        this.#readTime?.stop();
      }
    } catch (error) {
      this.done = true;
      this.problem = problemText({ kind: 'read-failed', at: this.position, error });
      return undefined;
    }
    if (bytesRead === 0 && remaining > 0) {
      this.done = true;
      this.problem = problemText({ kind: 'shrank', from: this.size, to: this.position });
      return undefined;
    }
    if (bytesRead > want) this.problem = problemText({ kind: 'grew', size: this.size });
    const data = buffer.subarray(0, Math.min(bytesRead, want));
    this.position += data.byteLength;
    if (this.position === this.size) this.done = true;
    return data;
  }

  /** After the last read: a file whose size, mtime or ctime moved was written to while we read it (those of `before` that are given). */
  checkUnchanged(before: { mtimeNs: bigint; ctimeNs?: bigint; size?: bigint }): void {
    if (this.problem) return;
    let after: BigIntStats;
    try {
      after = fstatSync(this.fd, { bigint: true });
    } catch {
      return; // the content is already read; an fstat failure now says nothing about it
    }
    const moved = after.mtimeNs !== before.mtimeNs || (before.ctimeNs !== undefined && after.ctimeNs !== before.ctimeNs) || (before.size !== undefined && after.size !== before.size);
    if (moved) this.problem = problemText({ kind: 'modified' });
  }
}
