import { CairnError, messageOf } from '#core/errors.ts';
import { isBrokenCopy, type Image, type ImageCopy } from '#core/model/image.ts';
import { asKind, type RestoreJob } from '#core/model/job.ts';
import { COPY_FAILURES, type RestoreRequest } from '#core/jobs/restore-job.ts';
import { describeStatus, type StatusCodeValue } from '#core/status-codes.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { Backend } from './backend-interface.ts';
import { formatBytes, note, printJson } from './output.ts';

/** How often the CLI looks at the running job to show where it is. */
const POLL_MS = 500;

/**
 * `cairn restore` of a tape image: runs the restore job and shows its
 * progress (waiting reason, the volume being read) on stderr as it
 * changes; prints the outcome (JSON with --json). Resolves with the job's
 * status code; a request refused before the job was queued throws its status.
 */
export async function restoreTapeImage(backend: Backend, request: RestoreRequest, json: boolean | undefined, options: { fallingBack?: boolean } = {}): Promise<number> {
  if (backend.runRestore === undefined) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${request.backupId} is on tape: its restore runs as a restore job, which this backend does not run yet (use the standalone runtime on the host attached to the library)`);
  }
  let jobId: number | undefined;
  let last = '';
  const show = async (): Promise<void> => {
    const job = jobId === undefined ? undefined : asKind(await backend.jobs.get(jobId), 'restore');
    const line = job === undefined ? '' : whereIs(job);
    if (line !== '' && line !== last && !json) note(line);
    last = line;
  };
  const timer = setInterval(() => void show().catch(() => undefined), POLL_MS);
  let run: Awaited<ReturnType<NonNullable<Backend['runRestore']>>>;
  try {
    run = await backend.runRestore(request, {
      onQueued: (ref) => {
        jobId = ref.jobId;
        if (!json) note(`restore job ${ref.jobId}: image ${ref.backupId} to ${request.targetDir}`);
      },
    });
  } finally {
    clearInterval(timer);
  }
  if (run.jobId === undefined) throw new CairnError(run.statusCode as StatusCodeValue, run.error ?? 'the restore was refused before it was queued');
  const job = run.job;
  const outcome = {
    jobId: run.jobId,
    backupId: request.backupId,
    targetDir: request.targetDir,
    statusCode: run.statusCode,
    statusText: describeStatus(run.statusCode),
    ...(run.error ? { error: run.error } : {}),
    files: job?.progress.files ?? 0,
    bytes: job?.progress.bytes ?? 0,
    volumes: job?.volumes ?? [],
    notRestored: job?.notRestored ?? [],
  };
  // A failure another copy will make good is told on stderr only: --json prints the outcome of the copy that ends it.
  const passedOver = options.fallingBack === true && run.statusCode > StatusCode.PARTIAL_SUCCESS;
  if (json && !passedOver) printJson(outcome);
  else if (!json) {
    note(`restore job ${run.jobId} ended with status ${run.statusCode} (${outcome.statusText}): ${outcome.files} entries, ${formatBytes(outcome.bytes)} from ${outcome.volumes.length} volume${outcome.volumes.length === 1 ? '' : 's'} (${outcome.volumes.map((v) => v.mediaId).join(', ')})`);
    if (run.error) note(`  error: ${run.error}`);
    for (const line of outcome.notRestored) note(`  ${line}`);
  }
  return run.statusCode;
}

/** One line of where the job is: its waiting reason, or the volume it reads. */
function whereIs(job: RestoreJob): string {
  if (job.waitingReason) return `  ${job.state.toLowerCase()}: ${job.waitingReason}`;
  const current = job.volumes.findIndex((v) => !v.read);
  if (job.state !== 'ACTIVE' || current < 0) return '';
  return `  volume ${current + 1} of ${job.volumes.length} (${job.volumes[current]!.mediaId}): ${job.progress.files} entries, ${formatBytes(job.progress.bytes)}`;
}

/** Statuses a restore from one copy ends with that another copy may make good (the restore job's own fallback uses the same set). */
export { COPY_FAILURES };

/**
 * `cairn restore --backup-id` of an image with a copy on tape: the copies
 * in order, the primary first (broken ones left out), each tried until one
 * restores. A copy on tape runs a restore job of that copy
 * (`RestoreRequest.copyNumber`); the disk and S3 copies from there on run
 * `objects` (restoreFromCopies, which passes over a disk or S3 copy that
 * is missing or corrupt by itself). A copy that fails with its data, media
 * or unit (COPY_FAILURES) hands over to the next copy, said on stderr, and
 * the next restores into the same target with overwrite (what the failed
 * one put in place was each checked against its index sha256). Resolves
 * with the status of the restore that ended it.
 */
export async function restoreAcrossCopies(
  backend: Backend,
  image: Image,
  tapeUnits: ReadonlySet<string>,
  request: Omit<RestoreRequest, 'copyNumber'>,
  json: boolean | undefined,
  objects: (image: Image, existing: NonNullable<RestoreRequest['existing']>) => Promise<number>,
): Promise<number> {
  const onTapeUnit = (copy: ImageCopy): boolean => tapeUnits.has(copy.storageUnit);
  let remaining = image.copies.filter((c) => !isBrokenCopy(image, c.copyNumber));
  let existing = request.existing ?? 'refuse';
  for (;;) {
    const head = remaining[0];
    if (!head) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${image.backupId} has no copy left to restore from`);
    const tape = onTapeUnit(head);
    // After a tape copy: the next copy. After the disk and S3 copies (tried together): the tape copies among the rest.
    const rest = tape ? remaining.slice(1) : remaining.filter(onTapeUnit);
    const next = rest[0];
    const handOver = (why: string): void => {
      if (!json) note(`copy ${head.copyNumber}${tape ? '' : ' (and the disk and S3 copies after it)'} on ${head.storageUnit} ${why}: restoring from copy ${next!.copyNumber} on ${next!.storageUnit}`);
    };
    try {
      const statusCode = tape
        ? await restoreTapeImage(backend, { ...request, existing, copyNumber: head.copyNumber }, json, { fallingBack: next !== undefined })
        : await objects({ ...image, copies: remaining.filter((c) => !onTapeUnit(c)) }, existing);
      if (next === undefined || !COPY_FAILURES.has(statusCode)) return statusCode;
      handOver(`failed with status ${statusCode}`);
    } catch (error) {
      if (next === undefined || !(error instanceof CairnError && COPY_FAILURES.has(error.statusCode))) throw error;
      handOver(`could not be restored (${messageOf(error)})`);
    }
    remaining = rest;
    existing = 'overwrite';
  }
}
