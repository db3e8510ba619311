/**
 * A short, stable reason for a file-system error, for the unreadable list an
 * operator reads (`/home/a/x: permission denied (EACCES)`).
 * `missing` names what ENOENT means where it happened (does not exist, vanished).
 */
export function describeFsError(error: unknown, missing = 'does not exist'): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${missing} (ENOENT)`;
    case 'ENOTDIR':
      return `${missing} (ENOTDIR)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EIO':
      return 'I/O error (EIO)';
    case 'ELOOP':
      return 'replaced by a symbolic link during backup (ELOOP)';
    case 'ENAMETOOLONG':
      return 'path too long (ENAMETOOLONG)';
    default:
      return code ? `${code}: ${error instanceof Error ? error.message : String(error)}` : error instanceof Error ? error.message : String(error);
  }
}
