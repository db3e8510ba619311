import { z } from 'zod';
import { CairnError } from '../errors.ts';
import { Image, PRIMARY_COPY } from '../model/image.ts';
import { IsoTime, Name } from '../model/names.ts';
import { BackupLevel } from '../model/policy.ts';
import { StatusCode } from '../status-codes.ts';
import { describeIssues } from '../validation.ts';

/**
 * Versions of the stored image record, for catalogs written by older code:
 * - 1: one storage unit per image; `fragments[].key`, `indexKey`,
 *   `manifestKey` and `indexSha256` on the image.
 * - 2: `copies`, each with its storage unit, fragments by location, index
 *   and manifest (copy 1 is the v1 image's one and only copy).
 * The SQLite catalog records the version it holds in `PRAGMA user_version`;
 * a DynamoDB image item in its `v` attribute (absent: 1).
 */
export const IMAGE_RECORD_VERSION = 2;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);

/** The image record as version 1 wrote it. */
const ImageV1 = z
  .object({
    backupId: z.string(),
    client: Name,
    policy: Name,
    schedule: Name,
    level: BackupLevel,
    storageUnit: Name,
    jobId: z.number().int().positive(),
    statusCode: z.number().int(),
    fragments: z.array(z.object({ number: z.number().int().positive(), key: z.string().min(1), bytes: z.number().int().min(0), sha256: SHA256 }).strict()),
    fileCount: z.number().int().min(0),
    bytes: z.number().int().min(0),
    indexKey: z.string(),
    indexSha256: SHA256,
    manifestKey: z.string(),
    createdAt: IsoTime,
    expiresAt: IsoTime,
    state: z.enum(['ACTIVE', 'EXPIRED']),
    baseBackupId: z.string().optional(),
  })
  .strict();

/**
 * The current image record from a stored one of any known version. A record
 * that fits none is an internal error naming the image and what is wrong:
 * the catalog is not guessed at.
 */
export function upgradeImageRecord(stored: unknown, version: number): Image {
  const where = typeof stored === 'object' && stored !== null && 'backupId' in stored ? `image ${String(stored.backupId)}` : 'an image record';
  if (version > IMAGE_RECORD_VERSION) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `${where} has catalog version ${version}, newer than this Cairn reads (${IMAGE_RECORD_VERSION}): upgrade Cairn`);
  }
  const parsed = version >= 2 ? Image.safeParse(stored) : ImageV1.transform(fromV1).pipe(Image).safeParse(stored);
  if (!parsed.success) throw new CairnError(StatusCode.INTERNAL_ERROR, `${where} in the catalog is not a valid version ${version} record`, { cause: parsed.error, details: describeIssues(parsed.error) });
  return parsed.data;
}

function fromV1(v1: z.output<typeof ImageV1>): Image {
  const { storageUnit, fragments, indexKey, indexSha256, manifestKey, baseBackupId, ...rest } = v1;
  return {
    ...rest,
    ...(baseBackupId !== undefined ? { baseBackupId } : {}),
    copies: [
      {
        copyNumber: PRIMARY_COPY,
        storageUnit,
        fragments: fragments.map((f) => ({ number: f.number, bytes: f.bytes, sha256: f.sha256, location: { kind: 'object', key: f.key } })),
        indexKey,
        indexSha256,
        manifestKey,
      },
    ],
  };
}
