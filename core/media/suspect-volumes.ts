import type { Drive, Media } from '../model/tape-media.ts';
import { chooseTapeResources, type InUse, type TapeChoice, type VolumeNeed } from './volume-choice.ts';

/** The volumes that had an error in an earlier attempt of `jobId` (their error history names the job). */
export function suspectFor(jobId: number, media: readonly Media[]): Media[] {
  return media.filter((m) => m.errors.some((e) => e.jobId === jobId));
}

/**
 * The drive and volume of a job's attempt, avoiding the volumes that failed
 * it before. NetBackup's bptm marks a volume it had a write or position
 * error on as suspect, and nbrb gives the job's retry another one even when
 * the error threshold has not frozen it yet (FROZEN volumes are never
 * chosen anyway: volume-choice.ts). Cairn keeps the mark in the volume's
 * error history (each entry names its job), so the rule needs no other
 * state: for job J, a volume with an error of J is chosen only when no
 * other volume could be, so a library with one writable volume still
 * retries on it (and the threshold freezes it after enough errors) rather
 * than wait for media that will never come. The reason says which volumes
 * were avoided.
 */
export function chooseAvoidingSuspects(jobId: number, need: VolumeNeed, media: readonly Media[], drives: readonly Drive[], inUse: InUse): TapeChoice {
  const suspects = suspectFor(jobId, media);
  if (suspects.length === 0) return chooseTapeResources(need, media, drives, inUse);
  const names = suspects.map((m) => m.mediaId).join(', ');
  const trusted = chooseTapeResources(need, media.filter((m) => !suspects.includes(m)), drives, inUse);
  if (trusted.chosen) return { ...trusted, reason: `${trusted.reason}; avoided ${names}: an error in an earlier attempt of job ${jobId}` };
  if (trusted.waitingFor === 'drive') return trusted;
  const any = chooseTapeResources(need, media, drives, inUse);
  if (any.chosen) return { ...any, reason: `${any.reason}; no other writable volume, so ${any.media.mediaId} is used again despite an error in an earlier attempt of job ${jobId}` };
  return any;
}
