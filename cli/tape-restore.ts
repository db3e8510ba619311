import { CairnError } from '#core/errors.ts';
import { primaryCopy } from '#core/model/image.ts';
import { asKind, type RestoreJob } from '#core/model/job.ts';
import type { RestoreRequest } from '#core/jobs/restore-job.ts';
import { describeStatus, type StatusCodeValue } from '#core/status-codes.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { Backend } from './backend-interface.ts';
import { formatBytes, note, printJson } from './output.ts';

/** Whether the image's primary copy (the one a restore reads) is on a tape unit. An unknown image is left to the caller to report. */
export async function onTape(backend: Backend, backupId: string): Promise<boolean> {
  const image = await backend.catalog.getImage(backupId);
  if (!image) return false;
  const unit = await backend.config.getStorageUnit(primaryCopy(image).storageUnit);
  return unit?.kind === 'tape';
}

/** How often the CLI looks at the running job to show where it is. */
const POLL_MS = 500;

/**
 * `cairn restore` of a tape image: runs the restore job and shows its
 * progress (waiting reason, the volume being read) on stderr as it
 * changes; prints the outcome (JSON with --json). Resolves with the job's
 * status code; a request refused before the job was queued throws its status.
 */
export async function restoreTapeImage(backend: Backend, request: RestoreRequest, json: boolean | undefined): Promise<number> {
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
  if (json) printJson(outcome);
  else {
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
