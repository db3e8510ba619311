import { ValidationError } from './errors.ts';

/** Backup ids look like `<client>_<epochSeconds>`, as administrators expect from NetBackup. */
export function makeBackupId(client: string, at: Date): string {
  return `${client}_${Math.floor(at.getTime() / 1000).toString().padStart(10, '0')}`;
}

export function parseBackupId(backupId: string): { client: string; createdAt: Date } {
  const match = /^(.+)_(\d{10})$/.exec(backupId);
  if (!match) throw new ValidationError('invalid backup id', [`${backupId}: expected <client>_<epochSeconds>`]);
  return { client: match[1]!, createdAt: new Date(Number(match[2]) * 1000) };
}

/** Where an image's parts live inside its storage unit. */
export function imageKeys(backupId: string): { prefix: string; fragment: (n: number) => string; index: string; manifest: string } {
  const { client } = parseBackupId(backupId);
  const prefix = `images/${client}/${backupId}`;
  return {
    prefix,
    fragment: (n) => `${prefix}/fragment-${String(n).padStart(5, '0')}.tar`,
    index: `${prefix}/index.ndjson.gz`,
    manifest: `${prefix}/manifest.json`,
  };
}

/**
 * Job ids are whole numbers from 1 below 10^12 (DynamoDB keeps them as
 * 12-digit sort keys); every JobStore and MediaStore refuses any other with
 * the same ValidationError before writing.
 */
export function assertJobId(jobId: number): void {
  if (!(Number.isSafeInteger(jobId) && jobId >= 1 && jobId < 1e12)) {
    throw new ValidationError('invalid job id', [`jobId: ${jobId} is not a whole number from 1 to 999999999999`]);
  }
}

/** `update` refuses a change that gives the job another id; nothing is written. */
export function assertSameJobId(jobId: number, changed: { jobId: number }): void {
  if (changed.jobId !== jobId) throw new ValidationError('invalid job update', [`jobId: a change must keep job id ${jobId}, not make it ${changed.jobId}`]);
}
