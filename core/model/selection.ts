import { z } from 'zod';

/**
 * The selection that stands for every local file system of the client,
 * expanded on the client itself (NetWorker's `All` save set, NetBackup's
 * ALL_LOCAL_DRIVES): pseudo, network and read-only-media file systems are
 * left out (edge-agent/probe/).
 */
export const ALL_LOCAL_FILE_SYSTEMS = 'ALL';

/** A backup selection: an absolute path on the client, or `ALL`. */
export const BackupSelection = z.string().refine((s) => s.startsWith('/') || s === ALL_LOCAL_FILE_SYSTEMS, `a backup selection is an absolute path, or ${ALL_LOCAL_FILE_SYSTEMS} for every local file system`);

/** The same selections, as sets (order and repeats do not change what a backup covers): an image's and a job's (broker/base-choice.ts). */
export function sameSelections(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((s) => right.has(s));
}
