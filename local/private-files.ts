import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync, constants } from 'node:fs';

/**
 * What Cairn keeps is as private as the most private file it backed up: a
 * key that was 0600 on a client must not become readable to every user of
 * the media server through the catalog, a fragment or an index. Modes are
 * asked for explicitly (the umask can only take bits away), so a usual
 * umask of 022 changes nothing.
 */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

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
