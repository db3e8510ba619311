import { z } from 'zod';
import { BackupLevel } from './policy.ts';
import { IsoTime, Name } from './names.ts';

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);
const BACKUP_ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*_\d{10}$/);

/**
 * Where a fragment's bytes are: an object in the copy's storage unit (disk
 * directory, S3 bucket), or a tape file on a volume. A tape position is the
 * tape file number (the label is file 0; one fragment per tape file) and
 * `blockOffset`, the logical block address where that tape file starts,
 * counted from the beginning of tape with each filemark as one block (what
 * `mt tell` / SCSI READ POSITION report), so a restore seeks straight there
 * (`mt seek`, SCSI LOCATE) without reading or spacing over what comes
 * before; a range of the fragment starts `⌊start / blockSize⌋` blocks
 * further (docs/image-format.md, Tape).
 */
export const FragmentLocation = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('object'), key: z.string().min(1) }).strict(),
  z
    .object({
      kind: z.literal('tape'),
      /** The volume's media id (its barcode / label), as vmquery shows it. */
      mediaId: z.string().regex(/^[A-Za-z0-9]{1,16}$/),
      fileNumber: z.number().int().min(0),
      /** Logical block address of the tape file's first record (filemarks count one block each). */
      blockOffset: z.number().int().min(0),
    })
    .strict(),
]);
export type FragmentLocation = z.output<typeof FragmentLocation>;

/**
 * How a fragment's tar archive is stored, when it is not stored as is.
 * `zstd-seekable`: independent zstd frames, each of `frameBytes` of the tar
 * archive (the last may be shorter), then the zstd seekable format's seek
 * table (docs/image-format.md, Fragments). The index's offsets stay tar
 * offsets; `tarBytes` is the archive's size, which the frames and seek
 * table must add up to.
 */
export const FragmentEncoding = z
  .object({
    codec: z.literal('zstd-seekable'),
    tarBytes: z.number().int().min(0),
    frameBytes: z.number().int().positive(),
  })
  .strict();
export type FragmentEncoding = z.output<typeof FragmentEncoding>;

/**
 * What a fragment's `sha256` is the sha256 of (docs/image-format.md, Fragments):
 * - `stored-bytes`: every byte of the fragment as stored (images before
 *   `tar-members-1`, whose fragments carry no `checksum`);
 * - `tar-members-1`: the fragment's tar stream with each regular file's data
 *   replaced by the sha256 of that data (which the index also holds), so the
 *   writer hashes every byte once.
 */
export const FragmentChecksum = z.enum(['stored-bytes', 'tar-members-1']);
export type FragmentChecksum = z.output<typeof FragmentChecksum>;

export const Fragment = z
  .object({
    /** 1-based fragment number within its copy; one tar archive each. */
    number: z.number().int().positive(),
    /** Bytes of the stored object (compressed, for an encoded fragment). */
    bytes: z.number().int().min(0),
    /** The fragment's checksum, of the kind `checksum` says: `tar-members-1` is over the tar archive (decompressed, for an encoded fragment). */
    sha256: SHA256,
    /** Absent: `stored-bytes` (every fragment written before the field existed). */
    checksum: FragmentChecksum.optional(),
    location: FragmentLocation,
    /** Absent: the stored bytes are the tar archive (every fragment before compression existed). */
    encoding: FragmentEncoding.optional(),
  })
  .strict();
export type Fragment = z.output<typeof Fragment>;

/** Copy 1 is the primary copy a backup writes: the one restores read unless told otherwise (NetBackup's copy numbers), until it expires before its duplicates. */
export const PRIMARY_COPY = 1;

/**
 * One copy of an image (NetBackup's copy 1, 2, ...): the whole image on one
 * storage unit. A copy has its own fragments (a copy on tape may be cut into
 * fragments differently, at end of media), so it has its own file index
 * (whose lines name fragments of this copy) and its own manifest.
 */
export const ImageCopy = z
  .object({
    copyNumber: z.number().int().positive(),
    storageUnit: Name,
    /** Empty for an incremental in which nothing changed. */
    fragments: z.array(Fragment),
    indexKey: z.string(),
    indexSha256: SHA256,
    /**
     * The sha256 of the index's chunk table, which is in the manifest
     * (edge-agent/image/index-chunks.ts): with it, a restore of a few paths
     * reads only the index chunks that can hold them. Absent on copies
     * written before chunked indexes: their index is read whole.
     */
    indexChunksSha256: SHA256.optional(),
    manifestKey: z.string(),
    /**
     * When this copy's own retention ends (a duplicate's, from its policy's
     * `copies` or `cairn duplicate --retention-days`). Absent: the image's
     * `expiresAt`. The image's date is never before any copy's: the image
     * goes with its last copy (core/catalog/image-copies.ts).
     */
    expiresAt: IsoTime.optional(),
  })
  .strict();
export type ImageCopy = z.output<typeof ImageCopy>;

export const ImageState = z.enum(['ACTIVE', 'EXPIRED']);

/**
 * One backup of one client at one time (bpdbm's image record). What the
 * backup was (identity, client, policy, schedule, level, job, status,
 * counts, times, state, base) is the image's; where its bytes are is each
 * copy's. `bytes` is the size of the primary copy.
 */
export const Image = z
  .object({
    backupId: BACKUP_ID,
    client: Name,
    policy: Name,
    schedule: Name,
    level: BackupLevel,
    jobId: z.number().int().positive(),
    /** 0, or 1 when some files could not be read (the image is kept and lists them). */
    statusCode: z.number().int(),
    fileCount: z.number().int().min(0),
    bytes: z.number().int().min(0),
    createdAt: IsoTime,
    expiresAt: IsoTime,
    state: ImageState,
    /** The image an incremental was taken against. */
    baseBackupId: z.string().optional(),
    /**
     * The selections the image covers: its job's as run (for a stream of a
     * multiple-data-streams job, its one file system or selection; `ALL`
     * as the policy says it when one job expanded it on the client). An
     * incremental's base has the same ones (core/broker/base-choice.ts).
     * Absent on images catalogued before it was recorded.
     */
    selections: z.array(z.string()).min(1).optional(),
    /**
     * A stream's image: every stream of its parent job, in order, its own
     * `selections[0]` among them. A point-in-time view of the client reads
     * the newest image of each (core/catalog/point-in-time.ts). Absent for
     * any other image.
     */
    streams: z.array(z.string()).min(1).optional(),
    /**
     * In copy-number order; the first is the primary (copy 1, or once copy 1
     * has expired before its duplicates, the lowest copy left). Copy numbers
     * are unique and never reused.
     */
    copies: z.array(ImageCopy).min(1),
    /**
     * Copies the catalog check (`cairn catalog check --repair`,
     * core/catalog/consistency-check.ts) found missing or short data in: a
     * fragment, the index or the manifest gone or not the catalogued size.
     * The record stays (it says what was there, and expiration removes it on
     * its date); an image whose every copy is broken is never restored from
     * nor taken as a base (`usableImage`). Absent: nothing found broken.
     */
    broken: z
      .object({ at: IsoTime, copies: z.array(z.number().int().positive()).min(1), reasons: z.array(z.string()).min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((image, ctx) => {
    const numbers = image.copies.map((c) => c.copyNumber);
    // The primary is the first: copy 1 until it expires before its duplicates, then the lowest copy left (NetBackup promotes the next copy).
    if (numbers.some((n, i) => i > 0 && n <= numbers[i - 1]!)) ctx.addIssue({ code: 'custom', path: ['copies'], message: `copies are in copy-number order, the primary first: ${numbers.join(', ')}` });
    if (new Set(numbers).size !== numbers.length) ctx.addIssue({ code: 'custom', path: ['copies'], message: `copy numbers repeat: ${numbers.join(', ')}` });
  });
export type Image = z.output<typeof Image>;

/** The copy restores read by default. Every image has one (the schema requires it first). */
export function primaryCopy(image: Image): ImageCopy {
  return image.copies[0]!;
}

/** Whether the catalog check marked this copy broken (its data is missing or short). */
export function isBrokenCopy(image: Image, copyNumber: number): boolean {
  return image.broken?.copies.includes(copyNumber) ?? false;
}

/** False when every copy of the image is marked broken: nothing restores it, nothing takes it as a base. */
export function usableImage(image: Image): boolean {
  return image.copies.some((c) => !isBrokenCopy(image, c.copyNumber));
}

/** Copy `copyNumber` of the image, or undefined. */
export function copyOf(image: Image, copyNumber: number): ImageCopy | undefined {
  return image.copies.find((c) => c.copyNumber === copyNumber);
}

/** `fragment 2 (images/host/host_1700000000/fragment-00002.tar)` or `fragment 2 (media A00001, file 3, block 0)`: how messages name a fragment. */
export function fragmentLabel(fragment: Fragment): string {
  return `fragment ${fragment.number} (${locationLabel(fragment.location)})`;
}

export function locationLabel(location: FragmentLocation): string {
  return location.kind === 'object' ? location.key : `media ${location.mediaId}, file ${location.fileNumber}, block ${location.blockOffset}`;
}

/**
 * A backup id taken by a job before it writes a byte (DESIGN §8): the id, and
 * so the image location `images/<client>/<backupId>/` in `storageUnit`, belong
 * to that job alone. While the claim stands the image is being staged: its
 * data may be partial and nothing lists or restores it. Committing the image
 * replaces the claim; a claim whose job stopped is removed by the janitor
 * together with its data. `storageUnit` is where copy 1 is being written.
 */
export const ImageClaim = z
  .object({
    backupId: BACKUP_ID,
    jobId: z.number().int().positive(),
    client: Name,
    storageUnit: Name,
    claimedAt: IsoTime,
  })
  .strict();
export type ImageClaim = z.output<typeof ImageClaim>;
