import { describeFsError } from '#core/fs-errors.ts';
import type { Job } from '#core/model/job.ts';

/** The short reason for an errno error where a path was being used (ENOTDIR there means a parent is a file). */
export function fsReason(error: unknown): string {
  return describeFsError(error, (error as { code?: string }).code === 'ENOTDIR' ? 'a part of the path is not a directory' : 'does not exist');
}

/**
 * Messages built elsewhere (an adapter, the agent, a library) and stored in a
 * job record may carry Node's errno text (`EACCES: permission denied, open
 * '/x'`); the CLI shows them in the words the rest of its output uses
 * (`/x: permission denied (EACCES)`).
 */
export function withoutErrnoText(text: string): string {
  return text.replace(/\b(E[A-Z0-9]+): [^,\n]+, [a-z_]+ '([^']*)'(?: -> '[^']*')?/g, (_, code: string, path: string) => `${path}: ${fsReason({ code })}`);
}

/** A job record as the CLI shows it, as text or JSON: its error, its attempts' errors and its unreadable list without errno text. */
export function jobWithoutErrnoText<J extends Job>(record: J): J {
  const job: Job = record;
  const shown: Job = job.type === 'backup' ? { ...job, unreadable: job.unreadable.map(withoutErrnoText) } : job;
  return {
    ...shown,
    error: job.error && withoutErrnoText(job.error),
    attempts: job.attempts.map((attempt) => ({ ...attempt, error: attempt.error && withoutErrnoText(attempt.error) })),
  } as J;
}
