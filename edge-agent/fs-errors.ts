import { getSystemErrorMap } from 'node:util';

/**
 * A short, stable reason for a file-system error, for the lists an operator
 * reads (`/home/a/x: permission denied (EACCES)`): never Node's raw text,
 * which repeats the syscall and the path.
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
      return code ? `${systemErrorText(error as NodeJS.ErrnoException) ?? 'error'} (${code})` : error instanceof Error ? error.message : String(error);
  }
}

/** The C library's wording for an errno (`no space left on device`), without Node's syscall and path. */
function systemErrorText(error: NodeJS.ErrnoException): string | undefined {
  return typeof error.errno === 'number' ? getSystemErrorMap().get(error.errno)?.[1] : undefined;
}
