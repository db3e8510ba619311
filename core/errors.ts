import { StatusCode, describeStatus, type StatusCodeValue } from './status-codes.ts';

/**
 * Every error Cairn raises on purpose carries the status code a job would end
 * with and, where there was one, the underlying cause.
 */
export class CairnError extends Error {
  readonly statusCode: StatusCodeValue;
  readonly details: readonly string[];

  constructor(statusCode: StatusCodeValue, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.statusCode = statusCode;
    this.details = options.details ?? [];
  }

  toJSON(): { error: string; statusCode: number; statusText: string; message: string; details: readonly string[] } {
    return { error: this.name, statusCode: this.statusCode, statusText: describeStatus(this.statusCode), message: this.message, details: this.details };
  }
}

/**
 * Input that does not match its schema; `details` names every problem as `path: reason`.
 * The message joins them too (it is what a job record or a log line keeps);
 * `summary` is the message without them, for output that lists the details itself.
 */
export class ValidationError extends CairnError {
  readonly summary: string;

  constructor(message: string, details: readonly string[], options: { statusCode?: StatusCodeValue; cause?: unknown } = {}) {
    super(options.statusCode ?? StatusCode.INVALID_COMMAND_USAGE, `${message}: ${details.join('; ')}`, { details, cause: options.cause });
    this.name = 'ValidationError';
    this.summary = message;
  }
}

export class NotFoundError extends CairnError {
  constructor(what: string, statusCode: StatusCodeValue = StatusCode.IMAGE_NOT_FOUND, options: { cause?: unknown } = {}) {
    super(statusCode, `${what} not found`, options);
    this.name = 'NotFoundError';
  }
}

/** A conditional write lost: somebody else changed the record first. */
export class ConflictError extends CairnError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(StatusCode.INTERNAL_ERROR, message, options);
    this.name = 'ConflictError';
  }
}

export function statusOf(error: unknown): StatusCodeValue {
  return error instanceof CairnError ? error.statusCode : StatusCode.INTERNAL_ERROR;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How many of an error's details travel with it into the job record. */
const WORKFLOW_DETAILS = 10;

/**
 * Step Functions matches errors by name, so a CairnError crosses into a
 * workflow as an Error named `Status<code>` (e.g. `Status219`) with the
 * message, and its first details, as its cause. Other errors pass through
 * unchanged.
 */

export function toWorkflowError(error: unknown): unknown {
  if (!(error instanceof CairnError)) return error;
  // The cause is all the job record keeps of a failure: the first details go with it
  // (a 71 names the selections that were missing), within Step Functions' 32 KiB.
  const details = error.details.slice(0, WORKFLOW_DETAILS).join('; ');
  const more = error.details.length > WORKFLOW_DETAILS ? `; and ${error.details.length - WORKFLOW_DETAILS} more` : '';
  const message = details && !error.message.includes(details) ? `${error.message}: ${details}${more}`.slice(0, 8192) : error.message;
  const wrapped = new Error(message, { cause: error });
  wrapped.name = `Status${error.statusCode}`;
  return wrapped;
}
