import { CairnError } from '#core/errors.ts';
import { describeStatus, StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import type { BackupRun } from '#local/job-engine.ts';
import type { Backend } from './backend.ts';
import { jobWithoutErrnoText, withoutErrnoText } from './errno-text.ts';

/** What `cairn backup` and `cairn jobs restart` report about a finished backup job. */
export interface BackupOutcome {
  jobId: number;
  statusCode: number;
  statusText: string;
  /** Present only when the catalog holds the image. */
  backupId?: string;
  /** The failure in words, when it says more than the status text. */
  error?: string;
  /** Status 71: the selections, none of which was found on the client. */
  missing?: string[];
  /** The job record; a backup id it claimed for an image that was never catalogued is left out. */
  job?: BackupJob;
}

/**
 * A job claims its backup id before it writes anything, but the id names an
 * image only once the image's catalog row has committed (data first, catalog
 * last). So an id is reported only when the catalog has it: an operator who
 * copies it into `cairn restore` must find an image. A backup refused before
 * it was queued throws its status instead.
 */
export async function backupOutcome(backend: Backend, run: BackupRun): Promise<BackupOutcome> {
  // Refused before it was queued (an unknown policy, a bad request): an error, not a job that ended.
  if (run.jobId === undefined) throw new CairnError(run.statusCode as StatusCodeValue, run.error ?? 'the backup was refused before it was queued');
  const record = asKind(await backend.jobs.get(run.jobId), 'backup');
  const claimed = run.backupId ?? record?.backupId;
  const image = claimed === undefined ? undefined : await backend.catalog.getImage(claimed);
  const job = record && shownJob(record, image?.backupId);
  const statusText = describeStatus(run.statusCode);
  return {
    jobId: run.jobId,
    statusCode: run.statusCode,
    statusText,
    backupId: image?.backupId,
    error: run.error && run.error !== statusText ? withoutErrnoText(run.error) : undefined,
    missing: run.statusCode === StatusCode.NONE_OF_THE_FILES_EXIST ? record?.selections : undefined,
    job,
  };
}

/** The job as the operator sees it: no image id the catalog lacks (failed attempts never have one), no errno text. */
function shownJob(job: BackupJob, backupId: string | undefined): BackupJob {
  const shown = jobWithoutErrnoText(job);
  return { ...shown, backupId, attempts: shown.attempts.map(({ backupId: _failedAttempt, ...attempt }) => attempt) };
}

/** The closing lines for people: the status, then each thing that went wrong, once. */
export function outcomeLines(outcome: BackupOutcome): string[] {
  const lines = [`job ${outcome.jobId} DONE: status ${outcome.statusCode} (${outcome.statusText})${outcome.backupId ? `, image ${outcome.backupId}` : ''}`];
  // A 71's error lists the missing selections again; the lines below say it per path.
  if (outcome.error && outcome.missing === undefined) lines.push(`  ${outcome.error}`);
  const where = `not found on client ${outcome.job?.client ?? '?'}${outcome.job?.exclude.length ? ' (or excluded)' : ''}`;
  for (const path of outcome.missing ?? []) lines.push(`  ${where}: ${path}`);
  for (const path of outcome.job?.unreadable ?? []) lines.push(`  not backed up: ${path}`);
  return lines;
}
