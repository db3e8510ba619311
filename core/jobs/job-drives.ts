/**
 * A job's `drives` with `drive` added: each drive once, in the order the job
 * was first given it. Once, because a drive kept for the next volume (spanning,
 * a restore's next volume in the same drive) or given again on a retry is the
 * same drive, and the list answers "which drives did this job use".
 * Unchanged (the same array) when the drive is listed already, so a retried
 * workflow step writes nothing new.
 */
export function withDrive(drives: readonly string[] | undefined, drive: string): string[] {
  if (drives?.includes(drive)) return drives as string[];
  return [...(drives ?? []), drive];
}
