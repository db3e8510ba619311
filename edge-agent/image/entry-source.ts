import type { BigIntStats } from 'node:fs';
import type { FileMeters, PreparedFile } from '../reader/file-reader.ts';
import type { WalkEntry } from '../reader/walker.ts';
import type { AttrResult } from '../reader/xattr-reader.ts';

/**
 * Where file content and link targets come from when they are not read from
 * the file system at each entry's `sourcePath` (the offhost data mover reads
 * them from a device, offhost/). The image writer asks it exactly where it
 * would otherwise ask the reader thread, so members, index lines, hard links
 * and fragments are made by the same code either way.
 *
 * Contract:
 * - `prepare` is asked for regular files only, in walk order, at most once
 *   per file (later paths of a multiply-linked file are not prepared); it
 *   rejects with UnreadableFileError for a file that cannot be backed up
 *   (it is then listed, status 1) and with anything else for a failure of
 *   the backup itself. The PreparedFile keeps its contract (exactly
 *   `stats.size` bytes, a problem named when the content is not the file's).
 * - With a file source, a large file is stored as a plain member (in pieces
 *   above the unit's piece size), never by blocks: the source reads bytes,
 *   and a block map would need a second pass over them.
 */
export interface FileSource {
  /** `readFile` is the writer's own reader (the reader thread), for a file the source reads as a file at a path of its choosing. */
  prepare(entry: WalkEntry, chunkBytes: number, meters: FileMeters, readFile: (sourcePath: string, walked: BigIntStats) => Promise<PreparedFile>): Promise<PreparedFile>;
  /** A symlink's target; rejects with UnreadableFileError when it cannot be had. */
  readlink(entry: WalkEntry): Promise<string>;
  /**
   * The entry's extended attributes and ACLs, or why they could not be
   * read, as the file-level reader finds them (reader/xattr-reader.ts);
   * asked for every entry, once. The image writer packs and indexes them
   * as it does the reader's.
   */
  attrs(entry: WalkEntry): AttrResult;
}

/**
 * A backup's entries when they do not come from walking the selections on
 * this host (`runBackup`'s `entries`): the offhost mover's extent map. The
 * walk was made where the file system is mounted; what it could not walk or
 * left out comes along through `hooks` (listed as unreadable, status 1; counted as excluded).
 */
export interface EntrySourceHooks {
  onProblem: (path: string, reason: string) => void;
  onExcluded: (count: number) => void;
  /** A problem of the job that names no path (the attr tools could not run where the walk was made): listed, status 1. */
  onNote: (line: string) => void;
}

export interface EntrySource {
  /** The entries in the walker's order: each directory before its contents, contents sorted by name. */
  entries(hooks: EntrySourceHooks): AsyncIterable<WalkEntry>;
  readonly files: FileSource;
}
