import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { Fragment } from '#core/model/image.ts';
import { IsoTime, Name } from '#core/model/names.ts';
import { BackupLevel } from '#core/model/policy.ts';
import { readAll, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeIssues } from '#core/validation.ts';
import { IndexChunkTable } from './index-chunks.ts';

export const MANIFEST_FORMAT = 'cairn-image';
/**
 * 2: fragments by `location` and the copy's number. 1 (read, never written):
 * fragments by object `key`, always copy 1; read as version 2.
 */
export const MANIFEST_FORMAT_VERSION = 2;

const count = z.number().int().min(0);

/**
 * The table of contents of one copy of an image, written last, next to it: it exists only once every
 * fragment and the index are durable, so a manifest is the mark of a
 * complete image (data first, catalog last). Restore needs nothing else.
 */
export const ImageManifest = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
    backupId: z.string(),
    /** The copy this manifest describes (1: the one the backup wrote). */
    copyNumber: z.number().int().positive(),
    jobId: z.number().int().positive(),
    client: Name,
    policy: Name,
    schedule: Name,
    level: BackupLevel,
    storageUnit: Name,
    createdAt: IsoTime,
    completedAt: IsoTime,
    /** 0, or 1 when some files could not be read (they are listed). */
    statusCode: z.union([z.literal(0), z.literal(1)]),
    selections: z.array(z.string()),
    exclude: z.array(z.string()),
    fragmentSizeBytes: count,
    fragments: z.array(Fragment).min(1),
    /** Members in the image (files, directories, links). */
    fileCount: count,
    /** Bytes of the image: the sum of the fragments' sizes. */
    bytes: count,
    /** Bytes of file content in the image. */
    dataBytes: count,
    indexKey: z.string(),
    indexSha256: z.string().regex(/^[0-9a-f]{64}$/),
    indexEntries: count,
    /**
     * Where each chunk of the index is (index-chunks.ts), so a restore of a
     * few paths reads only the chunks that can hold them. Trusted only when
     * the catalog's copy has its sha256 (`indexChunksSha256`); absent on
     * images written before chunks, and on an index whose order broke too often.
     */
    indexChunks: IndexChunkTable.optional(),
    /** The image an incremental was taken against. */
    baseBackupId: z.string().optional(),
    /** The first unreadable paths as `path: reason`; `unreadableCount` has them all. */
    unreadable: z.array(z.string()),
    unreadableCount: count,
    counts: z
      .object({
        files: count,
        directories: count,
        symlinks: count,
        hardlinks: count,
        /** In the image, but changed while being read (also in `unreadable`). */
        changed: count,
        /** Not in the image (also in `unreadable`). */
        unreadable: count,
        excluded: count,
        /** Sockets and what else could not be kept as a member: not backed up (also in `unreadable`; FIFOs and devices before they were kept). */
        skipped: count,
        /** Unchanged files an incremental left in earlier images (index lines with `fromBackupId`). */
        unchanged: count.default(0),
        /** FIFOs, character and block devices kept as members (absent in manifests written before they were). */
        specials: count.default(0),
      })
      .strict(),
    buffers: z.object({ count: count, sizeBytes: count, writerWaits: count, readerWaits: count }).strict(),
  })
  .strict();
export type ImageManifest = z.output<typeof ImageManifest>;

/** A version 1 manifest: the same fields but `copyNumber`, and fragments by object key. */
const ManifestV1 = ImageManifest.omit({ copyNumber: true }).extend({
  formatVersion: z.literal(1),
  fragments: z.array(z.object({ number: z.number().int().positive(), key: z.string().min(1), bytes: count, sha256: z.string() }).strict()).min(1),
}).transform(
  (v1): ImageManifest => ({
    ...v1,
    formatVersion: MANIFEST_FORMAT_VERSION,
    copyNumber: 1,
    fragments: v1.fragments.map((f) => ({ number: f.number, bytes: f.bytes, sha256: f.sha256, location: { kind: 'object' as const, key: f.key } })),
  }),
);

export function encodeManifest(manifest: ImageManifest): Uint8Array {
  return Buffer.from(`${JSON.stringify(ImageManifest.parse(manifest), null, 2)}\n`);
}

/** Reads and checks a manifest; a missing one rejects with NotFoundError, a malformed one with CORRUPT_IMAGE. */
export async function readManifest(store: ObjectStore, key: string): Promise<ImageManifest> {
  const text = (await readAll(await store.get(key))).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `manifest ${key} is not JSON`, { cause: error });
  }
  const version = typeof json === 'object' && json !== null && 'formatVersion' in json ? json.formatVersion : undefined;
  const parsed = version === 1 ? ManifestV1.safeParse(json) : ImageManifest.safeParse(json);
  if (!parsed.success) throw new CairnError(StatusCode.CORRUPT_IMAGE, `manifest ${key} is not a Cairn image manifest`, { cause: parsed.error, details: describeIssues(parsed.error) });
  return parsed.data;
}
