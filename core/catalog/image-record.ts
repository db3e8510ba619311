import { PRIMARY_COPY, type Image } from '../model/image.ts';
import type { BackupTaskResult } from '../model/task.ts';
import { parseBackupId } from '../ids.ts';

const DAY_MS = 86_400_000;

/** What the catalog takes from the job (or task) that wrote an image. */
export interface ImageOrigin {
  client: string;
  policy: string;
  schedule: string;
  level: Image['level'];
  /** Where the backup wrote copy 1. */
  storageUnit: string;
  jobId: number;
  retentionDays: number;
  baseBackupId?: string;
  /** The job's selections as run (a stream's: its one selection). */
  selections: readonly string[];
  /** A stream's: every stream of its parent job (core/jobs/data-streams.ts). */
  streams?: readonly string[];
}

/**
 * The catalog record of an image the agent reported durable: its identity
 * from the job, its contents from the agent's result, its times from the
 * backup id (the second the job was granted), so a retried Catalog step
 * builds the identical record.
 */
export function imageRecord(origin: ImageOrigin, result: BackupTaskResult): Image {
  const createdAt = parseBackupId(result.backupId).createdAt;
  return {
    backupId: result.backupId,
    client: origin.client,
    policy: origin.policy,
    schedule: origin.schedule,
    level: origin.level,
    jobId: origin.jobId,
    statusCode: result.statusCode,
    fileCount: result.fileCount,
    bytes: result.bytes,
    createdAt: createdAt.toISOString(),
    expiresAt: new Date(createdAt.getTime() + origin.retentionDays * DAY_MS).toISOString(),
    state: 'ACTIVE',
    ...(origin.baseBackupId ? { baseBackupId: origin.baseBackupId } : {}),
    selections: [...origin.selections],
    ...(origin.streams ? { streams: [...origin.streams] } : {}),
    // A backup writes the primary copy; more copies come from duplication.
    copies: [
      {
        copyNumber: PRIMARY_COPY,
        storageUnit: origin.storageUnit,
        fragments: result.fragments,
        indexKey: result.indexKey,
        indexSha256: result.indexSha256,
        ...(result.indexChunksSha256 !== undefined ? { indexChunksSha256: result.indexChunksSha256 } : {}),
        manifestKey: result.manifestKey,
      },
    ],
  };
}
