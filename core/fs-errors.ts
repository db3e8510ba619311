/**
 * Short, stable reasons for Node's file-system errors, for what an operator
 * reads: the agent's unreadable list (`/home/a/x: permission denied (EACCES)`)
 * and the CLI's error lines. Node's own message (`ENOTDIR: not a directory,
 * mkdir '/etc/passwd/x'`) is never passed on: it repeats the path in another
 * form and names a syscall, and the caller names the thing better.
 * Pure string mapping, so both the agent and the CLI can share it from core.
 *
 * `missing` names what ENOENT/ENOTDIR mean where it happened (does not exist,
 * vanished during backup, a parent is not a directory).
 */
export function describeFsError(error: unknown, missing = 'does not exist'): string {
  const code = errnoCode(error);
  switch (code) {
    case undefined:
      return error instanceof Error ? error.message : String(error);
    case 'ENOENT':
    case 'ENOTDIR':
      return `${missing} (${code})`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    default:
      return `${reasons[code] ?? 'file-system error'} (${code})`;
  }
}

/** The errno code (`ENOENT`) of a Node system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

const reasons: Record<string, string> = {
  EIO: 'I/O error',
  ELOOP: 'replaced by a symbolic link during backup',
  ENAMETOOLONG: 'path too long',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EBUSY: 'busy',
  EXDEV: 'on another file system',
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  ETIMEDOUT: 'timed out',
};
