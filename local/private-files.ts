import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync, constants } from 'node:fs';

import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from '#agent/disk/fs-object-store.ts';

/**
 * What Cairn keeps is as private as the most private file it backed up: the
 * catalog as much as a fragment or an index. The modes are the disk store's
 * (owner-only directories and files), asked for explicitly.
 */
export { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE };

/**
 * Creates `dir` (and missing parents) owner-only. A directory that exists
 * already is tightened only when `tighten` says it is Cairn's own (a home
 * made by an earlier version): an operator's `--home /srv` keeps its mode.
 */
export function ensurePrivateDirectory(dir: string, options: { tighten?: (dir: string) => boolean } = {}): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
    return;
  }
  if (options.tighten?.(dir) && (statSync(dir).mode & 0o077) !== 0) chmodSync(dir, PRIVATE_DIRECTORY_MODE);
}

/**
 * Creates `file` empty and owner-only if it is missing, and takes group and
 * other access away if it exists. SQLite gives its -wal and -shm files the
 * mode of the database file, so this one call covers all three.
 */
export function ensurePrivateFile(file: string): void {
  try {
    closeSync(openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, PRIVATE_FILE_MODE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, PRIVATE_FILE_MODE);
}
