import { z } from 'zod';
import { Name } from './names.ts';

/**
 * A storage unit's compression. `none` (the default) stores each fragment
 * as a plain tar archive; `zstd` stores it as independent zstd frames with
 * a seek table (the zstd seekable format), so `zstd -dc` reads it and a
 * restore of one file reads only the frames that hold it (docs/image-format.md).
 * Levels 1-19 (zstd's ordinary range; 1 is the fast default, the levels
 * above 19 need far more memory than an agent should take). It applies to
 * fragments written from then on: each fragment records its own encoding,
 * so changing it never makes older images unreadable.
 */
export const Compression = z.discriminatedUnion('codec', [
  z.object({ codec: z.literal('none') }).strict(),
  z.object({ codec: z.literal('zstd'), level: z.number().int().min(1).max(19).default(1) }).strict(),
]);
export type Compression = z.output<typeof Compression>;

const common = {
  name: Name,
  /** Concurrent jobs the unit accepts; the broker never grants more slots. */
  maxConcurrentJobs: z.number().int().min(1).max(1000).default(4),
  /** Target size of one image fragment (a tar archive of its own), in tar bytes (before compression). */
  fragmentSizeBytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024),
  /** How fragments written to the unit are stored; absent: as plain tar archives. See Compression. */
  compression: Compression.optional(),
  /**
   * A regular file whose member data is above this many bytes is stored as
   * pieces of at most this size, each a complete tar member, so a fragment
   * may close between two pieces (at end of media, at fragmentSizeBytes) and
   * a file bigger than a tape volume is writable (docs/image-format.md,
   * Pieces). Absent: DEFAULT_PIECE_BYTES. On tape it must stay below the
   * space a volume has past its early-warning mark.
   */
  pieceBytes: z.number().int().min(1024 * 1024).optional(),
};

/** A unit's `pieceBytes` when its settings leave it out: 64 MiB. */
export const DEFAULT_PIECE_BYTES = 64 * 1024 * 1024;

/** S3's bounds for a multipart part (every part but the last): 5 MiB to 5 GiB. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
export const S3_MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** An S3 unit's part size and parts in flight when its settings leave them out. */
export const DEFAULT_S3_PART_SIZE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_S3_UPLOAD_CONCURRENCY = 2;

/** S3 storage classes an object can be read from at once (GET needs no prior restore). */
export const S3StorageClass = z.enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR']);
export type S3StorageClass = z.output<typeof S3StorageClass>;

export const DiskStorageUnit = z.object({ ...common, kind: z.literal('disk'), path: z.string().min(1) }).strict();
export const S3StorageUnit = z
  .object({
    ...common,
    kind: z.literal('s3'),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    /**
     * Size of the first parts of a multipart upload (default 64 MiB). Parts
     * double as a stream of unknown length grows, so any object up to S3's
     * 5 TiB maximum fits in 10,000 parts (aws/s3-part-size.ts).
     */
    partSizeBytes: z.number().int().min(S3_MIN_PART_BYTES).max(S3_MAX_PART_BYTES).optional(),
    /**
     * Parts uploaded at once per object (default 2). A put holds at most
     * part size × (this + 1) bytes: the parts in flight and the one filling.
     */
    uploadConcurrency: z.number().int().min(1).max(32).optional(),
    /**
     * The S3 storage class every object of the unit is written with (absent:
     * the bucket's default, STANDARD). Classes a restore reads at once only:
     * an archive class that must be restored before a GET (GLACIER,
     * DEEP_ARCHIVE) would make every restore and verify fail.
     */
    storageClass: S3StorageClass.optional(),
  })
  .strict();

/** How long a drive keeps a volume loaded after a job, for the next job of the same pool (NetBackup's media unmount delay). */
export const DEFAULT_MEDIA_UNMOUNT_DELAY_SECONDS = 180;

/**
 * A tape storage unit: the drives of one robot (tape library) and the
 * volumes of one volume pool. Its fragments are tape files on the pool's
 * volumes; each image's file index and manifest are kept in `index`, a copy
 * of a disk or S3 unit's settings taken when the unit was added (NetBackup
 * keeps them in the primary server's image catalog, not on the tape), so
 * `cairn ls` and point-in-time views never mount a tape, and the indexes of
 * its images stay where they were written even if that unit is later
 * changed. A job holds one drive, so `maxConcurrentJobs` is the drives it
 * may use at once (`--drives`).
 */
export const TapeStorageUnit = z
  .object({
    ...common,
    kind: z.literal('tape'),
    robot: Name,
    pool: Name,
    index: z.discriminatedUnion('kind', [DiskStorageUnit, S3StorageUnit]),
    /** Seconds a drive stays loaded after a job for the next job of the same pool; 0 unloads at once. */
    mediaUnmountDelaySeconds: z.number().int().min(0).max(86_400).default(DEFAULT_MEDIA_UNMOUNT_DELAY_SECONDS),
  })
  .strict();

export const StorageUnit = z.discriminatedUnion('kind', [DiskStorageUnit, S3StorageUnit, TapeStorageUnit]);
export type StorageUnit = z.output<typeof StorageUnit>;
export type StorageUnitInput = z.input<typeof StorageUnit>;
