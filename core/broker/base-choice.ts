import { usableImage, type Image } from '../model/image.ts';
import type { BackupJob } from '../model/job.ts';
import { sameSelections } from '../model/selection.ts';

/** What an incremental is taken against, or why it runs as a full. */
export type BaseDecision = { level: BackupJob['level']; base?: Image; why: string };

/**
 * The image an incremental is taken against (NetBackup's rules): a
 * differential incremental against the last good backup of any level, a
 * cumulative one against the last full, among `images` (the client's and
 * the policy's, newest first, taken up to now). With no full to build on,
 * the job runs as a full. A pure decision with its reason.
 *
 * Which images are the job's chain: those whose recorded selections equal
 * the job's as a set. A stream of a multiple-data-streams job is one
 * file system or selection of its policy; another stream's image holds
 * none of its files, so an incremental against it would be as large as a
 * full and its point-in-time chain would run through another stream.
 *
 * - An image catalogued before selections were recorded matches a job that
 *   is not a stream (such an image was written by one job for the whole
 *   policy, so upgrading does not force a full), and never a stream, which
 *   cannot tell which stream wrote it: a stream's first run after the
 *   upgrade is a full.
 * - A policy whose selection list changed (a job that is not a stream and
 *   finds no full with its exact selections) continues the chain of the
 *   policy's earlier non-stream images. This is NetBackup's rule for a
 *   changed file list: entries still listed stay incremental and new
 *   entries are backed up in full; Cairn gets the same result without
 *   tracking the entries, because the index comparison sends in full every
 *   file the base does not list, and a point-in-time restore takes the
 *   final image's index as the whole tree, so entries dropped from the list
 *   are not restored. Streams' images are left out of that chain: each
 *   holds one part of the policy.
 * - A stream with no image of its own selection (a new stream, a file system
 *   `ALL` did not list before, a policy just switched to multiple data
 *   streams) runs as a full, as NetBackup's new streams do.
 */
export function chooseBaseImage(images: readonly Image[], job: Pick<BackupJob, 'level' | 'selections' | 'parentJobId' | 'backupId'>): BaseDecision {
  if (job.level === 'full') return { level: 'full', why: 'a full backup' };
  const eligible = images.filter((i) => i.statusCode <= 1 && i.state === 'ACTIVE' && usableImage(i) && i.backupId !== job.backupId);
  const stream = job.parentJobId !== undefined;
  const own = eligible.filter((i) => (i.selections === undefined ? !stream : sameSelections(i.selections, job.selections)));
  let chain = own;
  let changed = false;
  if (!stream && !own.some((i) => i.level === 'full')) {
    chain = eligible.filter((i) => i.streams === undefined);
    changed = chain.some((i) => i.level === 'full');
  }
  const lastFull = chain.find((i) => i.level === 'full');
  if (!lastFull) {
    return { level: 'full', why: `runs as a full: no full backup of ${stream ? 'the stream' : 'the selections'} ${job.selections.join(', ')} to build on` };
  }
  const base = job.level === 'differential-incremental' ? chain[0]! : lastFull;
  const against = changed ? ` (the selection list changed since it: files it does not hold are sent in full)` : '';
  return { level: job.level, base, why: `${job.level} against ${base.backupId}${against}` };
}
