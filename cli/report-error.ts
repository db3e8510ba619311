import { CairnError, ValidationError, messageOf } from '#core/errors.ts';
import { errnoCode } from '#core/fs-errors.ts';
import { StatusCode, describeStatus } from '#core/status-codes.ts';
import { UsageError } from './usage-errors.ts';
import { fsReason, withoutErrnoText } from './errno-text.ts';

/**
 * Any error as a CairnError, so every error the CLI prints has a status: an
 * unexpected one is status 2000 with its message, a Node errno error names
 * its path and a short reason instead of Node's text.
 */
export function asCairnError(error: unknown): CairnError {
  if (error instanceof CairnError) return error;
  if (errnoCode(error)) {
    const path = (error as NodeJS.ErrnoException).path;
    return new CairnError(StatusCode.INTERNAL_ERROR, `${path ?? 'file system'}: ${fsReason(error)}`, { cause: error });
  }
  const message = messageOf(error).trim();
  return new CairnError(StatusCode.INTERNAL_ERROR, message || (error instanceof Error ? error.name : 'unknown error'), { cause: error });
}

/**
 * Prints an error once: human output is one status line on stderr, then each
 * detail on its own line, then (for a usage error) the command's usage line;
 * `--json` prints one JSON object on stdout. A ValidationError's message
 * already joins its details, so only its summary heads the output.
 */
export function reportError(error: unknown, options: { json: boolean }): void {
  const failure = asCairnError(error);
  const headline = withoutErrnoText(failure instanceof ValidationError ? failure.summary : failure.message);
  const details = failure.details.map(withoutErrnoText);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ...failure.toJSON(), message: headline, details }, null, 2)}\n`);
    return;
  }
  const lines = [`cairn: status ${failure.statusCode} (${describeStatus(failure.statusCode)}): ${headline}`, ...details.map((d) => `  ${d}`)];
  if (failure instanceof UsageError) lines.push(`Usage: ${failure.usage}  (${failure.helpHint} for details)`);
  process.stderr.write(`${lines.join('\n')}\n`);
}
