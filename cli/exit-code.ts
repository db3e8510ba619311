import { StatusCode } from '#core/status-codes.ts';

/**
 * The exit code scripts test: 0 success, 1 partial success (the image is
 * kept and the unreadable files are listed, as restic's exit code 3), 2 any
 * failure, including a wrong command line. The status code itself is in the
 * output.
 */
export function exitCodeFor(statusCode: number): 0 | 1 | 2 {
  if (statusCode === StatusCode.SUCCESS) return 0;
  return statusCode === StatusCode.PARTIAL_SUCCESS ? 1 : 2;
}
