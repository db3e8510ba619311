import { imageRecord } from '#core/catalog/image-record.ts';
import { PRIMARY_COPY, type Image } from '#core/model/image.ts';
import { BackupTaskResult } from '#core/model/task.ts';
import { chunkTableSha256 } from './index-chunks.ts';
import type { ImageManifest } from './manifest.ts';

/**
 * The catalog record a manifest stands for (bpimport's phase 2), built by
 * the same record builder the Catalog step uses (core/catalog/image-record.ts),
 * so an imported image is the record its backup wrote, field for field,
 * except what the manifest does not carry:
 * - `expiresAt`: from `retentionDays` (the caller's: the policy's schedule
 *   retention when the catalog still has it, else the import's default);
 * - `streams`: a stream image of a multiple-data-streams job is imported as
 *   an image of its own selection only;
 * - a copy other than 1 is imported as the image's only copy, under its own number.
 */
export function recordFromManifest(manifest: ImageManifest, where: { storageUnit: string; manifestKey: string; retentionDays: number }): Image {
  const { storageUnit, manifestKey, retentionDays } = where;
  const result = BackupTaskResult.parse({
    backupId: manifest.backupId,
    statusCode: manifest.statusCode,
    fragments: manifest.fragments,
    fileCount: manifest.fileCount,
    bytes: manifest.bytes,
    indexKey: manifest.indexKey,
    indexSha256: manifest.indexSha256,
    ...(manifest.indexChunks ? { indexChunksSha256: chunkTableSha256(manifest.indexChunks) } : {}),
    manifestKey,
    unreadable: manifest.unreadable,
    unreadableCount: manifest.unreadableCount,
    unchangedCount: manifest.counts.unchanged,
    writerWaits: manifest.buffers.writerWaits,
    readerWaits: manifest.buffers.readerWaits,
    elapsedMs: Math.max(0, Date.parse(manifest.completedAt) - Date.parse(manifest.createdAt)),
  });
  const image = imageRecord(
    {
      client: manifest.client,
      policy: manifest.policy,
      schedule: manifest.schedule,
      level: manifest.level,
      storageUnit,
      jobId: manifest.jobId,
      retentionDays,
      ...(manifest.baseBackupId ? { baseBackupId: manifest.baseBackupId } : {}),
      selections: manifest.selections,
    },
    result,
  );
  if (manifest.copyNumber === PRIMARY_COPY) return image;
  return { ...image, copies: image.copies.map((c) => ({ ...c, copyNumber: manifest.copyNumber })) };
}
