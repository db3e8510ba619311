import { StatusCode, describeStatus, isRetryableStatus, type StatusCodeValue } from './status-codes.ts';

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

/** What a NotFoundError says is missing; each has the status code a job or command ends with. */
export type MissingThing = 'job' | 'image' | 'object' | 'policy' | 'storage unit' | 'robot' | 'drive' | 'pool' | 'media';

const missingStatus: Record<MissingThing, StatusCodeValue> = {
  job: StatusCode.JOB_NOT_FOUND,
  image: StatusCode.IMAGE_NOT_FOUND,
  object: StatusCode.OBJECT_NOT_FOUND,
  policy: StatusCode.INVALID_POLICY,
  'storage unit': StatusCode.STORAGE_UNIT_UNAVAILABLE,
  // A tape unit whose robot or drive is not configured cannot be used: NetBackup ends such a job with 219.
  robot: StatusCode.STORAGE_UNIT_UNAVAILABLE,
  drive: StatusCode.STORAGE_UNIT_UNAVAILABLE,
  // A job whose pool or volume the media manager does not know cannot get media: 96, as NetBackup's
  // "unable to allocate new media". 174 stays for the media manager failing, not for a name it lacks.
  pool: StatusCode.UNABLE_TO_ALLOCATE_MEDIA,
  media: StatusCode.UNABLE_TO_ALLOCATE_MEDIA,
};

/**
 * A named thing does not exist: `new NotFoundError('job', 12)` is "job 12
 * not found", status 2003. The status follows from what is missing, so a
 * missing job never reads as "image not in the catalog".
 */
export class NotFoundError extends CairnError {
  readonly missing: MissingThing;
  readonly id: string;

  constructor(missing: MissingThing, id: string | number, options: { cause?: unknown } = {}) {
    super(missingStatus[missing], `${missing} ${id} not found`, options);
    this.name = 'NotFoundError';
    this.missing = missing;
    this.id = String(id);
  }
}

/** What a ConflictError reports; each kind has its own status code. */
export type ConflictKind =
  /** The record is not as this step expects: another job or step changed it first. Not retryable: status 2005. */
  | 'state'
  /** Optimistic writes lost to concurrent ones every time they were tried; nothing was decided. Retryable: status 2006. */
  | 'contention'
  /** The job's claim on its backup id is gone: the janitor took the job for dead and removed its data. Retryable as a new attempt: status 2002. */
  | 'claim-lost';

const conflictStatus: Record<ConflictKind, StatusCodeValue> = {
  state: StatusCode.CONFLICT,
  contention: StatusCode.WRITE_CONTENTION,
  'claim-lost': StatusCode.JOB_ORPHANED,
};

/**
 * A conditional write lost: somebody else changed the record first. Nothing
 * was written. `retryable` says whether trying the step again can succeed.
 */
export class ConflictError extends CairnError {
  readonly kind: ConflictKind;

  constructor(message: string, options: { cause?: unknown; kind?: ConflictKind } = {}) {
    super(conflictStatus[options.kind ?? 'state'], message, options);
    this.name = 'ConflictError';
    this.kind = options.kind ?? 'state';
  }

  get retryable(): boolean {
    return isRetryableStatus(this.statusCode);
  }
}

/** Whether a failure is worth another attempt (Backup Tries, or a step's own retry). */
export function isRetryable(error: unknown): boolean {
  return isRetryableStatus(statusOf(error));
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

/**
 * Rejects at a safe point of work whose `signal` aborted (its job was
 * cancelled): with the abort's reason when it is a CairnError (the job
 * reporter's 150 naming the job), else 150.
 */
export function stopIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw signal.reason instanceof CairnError ? signal.reason : new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: signal.reason });
}
