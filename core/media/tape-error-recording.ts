import { NotFoundError } from '../errors.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaErrorEntry } from '../model/tape-media.ts';
import { loadSettings } from '../settings.ts';
import { driveErrorDecision, mediaErrorDecision } from './error-policy.ts';
import type { TapeFaultReport } from './tape-fault.ts';

/** One tape error of a job, as Release (or a restore) hands it to the media manager. */
export interface TapeErrorOccurrence {
  report: TapeFaultReport & { mediaId: string };
  jobId: number;
  /** The job's attempt: the same error of two attempts is two errors; Release run twice for one attempt records it once. */
  attempt: number;
  /** The error's message (without its tag). */
  message: string;
  at: Date;
}

/** Most of a MediaErrorEntry's message (the model allows 1024 characters). */
const MESSAGE_CHARS = 1000;

/**
 * bptm's error handling (NetBackup's media `errors` file and its
 * thresholds), done by whoever learns of the error in the control plane:
 *
 * 1. the error goes into the volume's and the drive's error history (the
 *    time, the kind, the other of the two, the job), once per job attempt:
 *    a retried Release that records it again finds it there and adds
 *    nothing (idempotent, as every Release step);
 * 2. the error policy (error-policy.ts) decides with the settings'
 *    thresholds (`mediaErrorFreeze`, `driveErrorDown`; 3 in 12 hours by
 *    default): the volume is FROZEN, the drive goes DOWN with the policy's
 *    reason as its down reason;
 * 3. below the volume's threshold the volume is left writable but is
 *    suspect for this job: its error names the job, and the broker gives
 *    the job's retry another volume (core/broker/tape-choice.ts).
 *
 * Resolves with what it did, one line each, for the job's detailed status.
 * A volume or drive the media manager no longer knows (removed meanwhile)
 * is named and skipped.
 */
export async function recordTapeError(deps: { emm: MediaDatabase; config: ConfigStore }, occurrence: TapeErrorOccurrence): Promise<string[]> {
  const { report, jobId, attempt, at } = occurrence;
  const { mediaId, drive, kind } = report;
  const message = `job ${jobId} attempt ${attempt}: ${occurrence.message}`.slice(0, MESSAGE_CHARS);
  const entry = (other: { drive?: string; mediaId?: string }): MediaErrorEntry => ({ at: at.toISOString(), kind, jobId, message, ...other });
  const settings = await loadSettings(deps.config);
  const where = [report.tapeFile === undefined ? undefined : `tape file ${report.tapeFile}`, report.block === undefined ? undefined : `block ${report.block}`].filter((w) => w !== undefined);
  const lines = [`${kind} error on volume ${mediaId} in drive ${drive}${where.length > 0 ? ` (${where.join(', ')})` : ''}: ${occurrence.message}`];
  const seen = (errors: readonly MediaErrorEntry[]): boolean => errors.some((e) => e.jobId === jobId && e.kind === kind && e.message === message);

  const media = await missingAsUndefined(deps.emm.getMedia(mediaId));
  if (media === undefined) {
    lines.push(`volume ${mediaId} is not in the media manager: its error is not counted`);
  } else {
    const counted = seen(media.errors) ? media : await deps.emm.recordMediaError(mediaId, entry({ drive }));
    const decision = mediaErrorDecision(counted, settings.mediaErrorFreeze, at);
    if (decision.action === 'freeze') await deps.emm.freeze(mediaId);
    lines.push(decision.action === 'freeze' || counted.state === 'FROZEN' || counted.state === 'SUSPENDED' ? decision.reason : `${decision.reason}: suspect, so this job's retry is given another volume`);
  }

  const record = await missingAsUndefined(deps.emm.getDrive(drive));
  if (record === undefined) {
    lines.push(`drive ${drive} is not in the media manager: its error is not counted`);
  } else {
    const counted = seen(record.errors) ? record : await deps.emm.recordDriveError(drive, entry({ mediaId }));
    const decision = driveErrorDecision(counted, settings.driveErrorDown, at);
    if (decision.action === 'down') await deps.emm.setDriveState(drive, 'DOWN', decision.reason);
    lines.push(decision.reason);
  }
  return lines;
}

async function missingAsUndefined<T>(read: Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
