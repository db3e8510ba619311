/**
 * Job status codes. Numbers follow NetBackup where one exists, because that is
 * what backup administrators already read at a glance; docs/status-codes.md
 * is generated from the same table.
 */
export const StatusCode = {
  SUCCESS: 0,
  PARTIAL_SUCCESS: 1,
  FILE_READ_FAILED: 13,
  INVALID_COMMAND_USAGE: 20,
  NETWORK_TIMEOUT: 41,
  CLIENT_PROCESS_ABORTED: 50,
  NONE_OF_THE_FILES_EXIST: 71,
  MEDIA_WRITE_ERROR: 84,
  MEDIA_READ_ERROR: 85,
  UNABLE_TO_ALLOCATE_MEDIA: 96,
  RESTORE_PATH_REJECTED: 185,
  TERMINATED_BY_ADMINISTRATOR: 150,
  SYSTEM_ERROR_DURING_RESTORE: 174,
  IMAGE_NOT_FOUND: 227,
  BACKUP_WINDOW_CLOSED: 196,
  STORAGE_UNIT_UNAVAILABLE: 219,
  INVALID_POLICY: 230,
  CORRUPT_IMAGE: 232,
  JOB_ORPHANED: 252,
  INTERNAL_ERROR: 2000,
} as const;

export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export const statusText: Record<StatusCodeValue, string> = {
  0: 'the requested operation was successfully completed',
  1: 'the requested operation was partially successful',
  13: 'file read failed',
  20: 'invalid command parameter',
  41: 'network connection timed out (agent heartbeat lost)',
  50: 'client process aborted',
  71: 'none of the files in the file list exist',
  84: 'media write error',
  85: 'media read error',
  96: 'unable to allocate new media for backup, storage unit has none available',
  150: 'termination requested by administrator',
  174: 'media manager - system error occurred',
  185: 'restore refused: a member would be written outside the target directory',
  196: 'client backup was not attempted because backup window closed',
  219: 'the required storage unit is unavailable',
  227: 'no entity was found (backup image not in the catalog)',
  230: 'the specified policy does not exist or is invalid',
  232: 'image is corrupt: a checksum or structure check failed',
  252: 'job ended because its runtime stopped while it was active (orphaned)',
  2000: 'unexpected internal error',
};

/** Outcomes that are worth another attempt under the Backup Tries setting. */
export const retryableStatusCodes: ReadonlySet<number> = new Set([13, 41, 50, 84, 96, 219, 252, 2000]);

export function describeStatus(code: number): string {
  return (statusText as Record<number, string>)[code] ?? `status ${code}`;
}

export function isSuccessStatus(code: number): boolean {
  return code === StatusCode.SUCCESS || code === StatusCode.PARTIAL_SUCCESS;
}
