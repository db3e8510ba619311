import { z } from 'zod';
import { BackupLevel } from './policy.ts';
import { IsoTime, Name } from './names.ts';

export const Fragment = z
  .object({
    /** 1-based fragment number; one tar archive each. */
    number: z.number().int().positive(),
    key: z.string(),
    bytes: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type Fragment = z.output<typeof Fragment>;

export const ImageState = z.enum(['ACTIVE', 'EXPIRED']);

export const Image = z
  .object({
    backupId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*_\d{10}$/),
    client: Name,
    policy: Name,
    schedule: Name,
    level: BackupLevel,
    storageUnit: Name,
    jobId: z.number().int().positive(),
    /** 0, or 1 when some files could not be read (the image is kept and lists them). */
    statusCode: z.number().int(),
    /** Empty for an incremental in which nothing changed. */
    fragments: z.array(Fragment),
    fileCount: z.number().int().min(0),
    bytes: z.number().int().min(0),
    indexKey: z.string(),
    indexSha256: z.string().regex(/^[0-9a-f]{64}$/),
    manifestKey: z.string(),
    createdAt: IsoTime,
    expiresAt: IsoTime,
    state: ImageState,
    /** The image an incremental was taken against. */
    baseBackupId: z.string().optional(),
  })
  .strict();
export type Image = z.output<typeof Image>;

/**
 * A backup id taken by a job before it writes a byte (DESIGN §8): the id, and
 * so the image location `images/<client>/<backupId>/` in `storageUnit`, belong
 * to that job alone. While the claim stands the image is being staged: its
 * data may be partial and nothing lists or restores it. Committing the image
 * replaces the claim; a claim whose job stopped is removed by the janitor
 * together with its data.
 */
export const ImageClaim = z
  .object({
    backupId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*_\d{10}$/),
    jobId: z.number().int().positive(),
    client: Name,
    storageUnit: Name,
    claimedAt: IsoTime,
  })
  .strict();
export type ImageClaim = z.output<typeof ImageClaim>;
