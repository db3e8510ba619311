/**
 * Job status codes. Numbers follow NetBackup where one exists, because that is
 * what backup administrators already read at a glance; codes NetBackup has
 * no equivalent for start at 2000. docs/status-codes.md is generated from
 * this table.
 */
export const StatusCode = {
  SUCCESS: 0,
  PARTIAL_SUCCESS: 1,
  FILE_READ_FAILED: 13,
  INVALID_COMMAND_USAGE: 20,
  NETWORK_TIMEOUT: 41,
  CLIENT_NOT_FOUND: 48,
  CLIENT_PROCESS_ABORTED: 50,
  NONE_OF_THE_FILES_EXIST: 71,
  MEDIA_WRITE_ERROR: 84,
  MEDIA_READ_ERROR: 85,
  MEDIA_POSITION_ERROR: 86,
  WRONG_TAPE_IN_DRIVE: 93,
  UNABLE_TO_ALLOCATE_MEDIA: 96,
  TERMINATED_BY_ADMINISTRATOR: 150,
  /** A frozen image (snapshot) the policy requires could not be taken, or its removal failed. */
  SNAPSHOT_ERROR: 156,
  SYSTEM_ERROR_DURING_RESTORE: 174,
  IMAGE_NOT_FOUND: 227,
  BACKUP_WINDOW_CLOSED: 196,
  STORAGE_UNIT_UNAVAILABLE: 219,
  INVALID_POLICY: 230,
  INTERNAL_ERROR: 2000,
  /** Cairn's own codes (no NetBackup equivalent) start at 2000. */
  CORRUPT_IMAGE: 2001,
  JOB_ORPHANED: 2002,
  JOB_NOT_FOUND: 2003,
  OBJECT_NOT_FOUND: 2004,
  CONFLICT: 2005,
  WRITE_CONTENTION: 2006,
} as const;

export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export const statusText: Record<StatusCodeValue, string> = {
  0: 'the requested operation was successfully completed',
  1: 'the requested operation was partially successful',
  13: 'file read failed',
  20: 'invalid command parameter',
  41: 'network connection timed out (agent heartbeat lost)',
  48: 'client hostname could not be found (no agent instance is mapped to the client)',
  50: 'client process aborted',
  71: 'none of the files in the file list exist',
  84: 'media write error',
  85: 'media read error',
  86: 'media position error',
  93: 'media manager found wrong tape in drive (its label is not the volume mounted for the job)',
  96: 'unable to allocate new media for backup, storage unit has none available',
  150: 'termination requested by administrator',
  156: 'snapshot error encountered',
  174: 'media manager - system error occurred',
  196: 'client backup was not attempted because backup window closed',
  219: 'the required storage unit is unavailable',
  227: 'no entity was found (backup image not in the catalog)',
  230: 'the specified policy does not exist or is invalid',
  2000: 'unexpected internal error',
  2001: 'image is corrupt: a checksum or structure check failed',
  2002: 'job ended because the process running it stopped (orphaned)',
  2003: 'no such job in the job database',
  2004: 'object not found in the storage unit',
  2005: 'conflicting change: the record is not in the state this step expects (another job or step changed it)',
  2006: 'a write kept colliding with concurrent writes to the same record',
};

/**
 * Outcomes that are worth another attempt under the Backup Tries setting.
 * A conflict (2005) is not: the record says the step is no longer wanted
 * (the job ended, another job holds the id), and trying again cannot change
 * that. Contention (2006) is: nothing was decided, the writes only collided.
 * A tape write (84) or position (86) error is: the broker gives the retry
 * another volume (core/broker/tape-choice.ts, suspect volumes).
 */
export const retryableStatusCodes: ReadonlySet<number> = new Set([13, 41, 50, 84, 86, 96, 219, 2000, 2002, 2006]);

export function isRetryableStatus(code: number): boolean {
  return retryableStatusCodes.has(code);
}

export function describeStatus(code: number): string {
  return (statusText as Record<number, string>)[code] ?? `status ${code}`;
}

export function isSuccessStatus(code: number): boolean {
  return code === StatusCode.SUCCESS || code === StatusCode.PARTIAL_SUCCESS;
}
