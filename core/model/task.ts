import { z } from 'zod';
import { BackupLevel, BackupMethod } from './policy.ts';
import { Fragment } from './image.ts';
import { Name } from './names.ts';
import { StorageUnit } from './storage-unit.ts';
import { TapeTarget } from './tape-task.ts';
import { JobSnapshots } from './snapshot.ts';

/** Data buffers between the reader and the writer (NUMBER_DATA_BUFFERS × SIZE_DATA_BUFFERS). */
export const BufferSettings = z
  .object({
    count: z.number().int().min(2).max(1024).default(16),
    sizeBytes: z.number().int().min(4096).max(64 * 1024 * 1024).default(256 * 1024),
  })
  .strict();
export type BufferSettings = z.output<typeof BufferSettings>;

/** What the job engine sends the edge agent for one backup (the SSM command's `task` parameter). */
export const BackupTask = z
  .object({
    jobId: z.number().int().positive(),
    backupId: z.string(),
    client: Name,
    policy: Name,
    schedule: Name,
    level: BackupLevel,
    selections: z.array(z.string()).min(1),
    exclude: z.array(z.string()).default([]),
    /** Descend into file systems mounted under a selection (the policy's crossMountPoints); absent: false. */
    crossMountPoints: z.boolean().optional(),
    /** The policy's backupMethod: `offhost` maps a frozen image on a block device and a data mover reads it (docs/offhost.md); absent: `file`. */
    backupMethod: BackupMethod.optional(),
    storageUnit: StorageUnit,
    buffers: BufferSettings.default({ count: 16, sizeBytes: 256 * 1024 }),
    /** For an incremental: the image changes are detected against, and where its index is. */
    base: z
      .object({ backupId: z.string(), indexKey: z.string(), indexSha256: z.string(), storageUnit: StorageUnit })
      .strict()
      .optional(),
    /** A tape unit's job: the drive the broker reserved and the volume Mount put in it; the fragments go there. */
    tape: TapeTarget.optional(),
    /**
     * The frozen images the Snapshot step took (and the selections it read
     * live instead): the agent reads each path inside the image that covers
     * it (readPathOf) and records the original path. Absent: everything live.
     */
    snapshots: JobSnapshots.optional(),
  })
  .strict();
export type BackupTask = z.output<typeof BackupTask>;
export type BackupTaskInput = z.input<typeof BackupTask>;

/**
 * Where a backup's time went, in milliseconds of wall-clock time, measured
 * by the agent on its data path (edge-agent/transport/busy-meter.ts). Read by
 * the bottleneck verdict (core/jobs/bottleneck.ts). Overlapping operations of
 * one kind count once, so each figure can be set against `elapsedMs`.
 */
export const DataPathTimes = z
  .object({
    /** From the start of the image to its last byte durable. */
    elapsedMs: z.number().int().min(0),
    /** The reader's file-system work: walking, opening, fstat, reading. */
    readMs: z.number().int().min(0),
    /** The writer's sink and storage writes (flush and fsync included), less its waits and hashing. */
    writeMs: z.number().int().min(0),
    /** SHA-256 of file content and of fragments. */
    hashMs: z.number().int().min(0),
    /** The reader waited for the writer: for an empty buffer, or for a fragment to be durable. */
    readerWaitMs: z.number().int().min(0),
    /** The writer waited for a full buffer. */
    writerWaitMs: z.number().int().min(0),
    /** The agent's main thread was busy (JavaScript, hashing, copying, synchronous calls). */
    mainThreadMs: z.number().int().min(0),
  })
  .strict();
export type DataPathTimes = z.output<typeof DataPathTimes>;

/** What the agent reports when every byte of the image is durable in the storage unit. */
/**
 * An offhost backup's figures (edge-agent/offhost/, docs/offhost.md): files
 * whose data the mover read from the device, files read as files instead
 * (data not in plain extents) by reason, and what it read of the device.
 */
export const OffhostFigures = z
  .object({
    deviceFiles: z.number().int().min(0),
    fallbackFiles: z.number().int().min(0),
    fallbackReasons: z.record(z.string(), z.number().int().min(0)),
    deviceBytesRead: z.number().int().min(0),
    deviceReads: z.number().int().min(0),
  })
  .strict();
export type OffhostFigures = z.output<typeof OffhostFigures>;

export const BackupTaskResult = z
  .object({
    backupId: z.string(),
    /** 0, or 1 when some files could not be read. */
    statusCode: z.union([z.literal(0), z.literal(1)]),
    fragments: z.array(Fragment),
    fileCount: z.number().int().min(0),
    bytes: z.number().int().min(0),
    indexKey: z.string(),
    indexSha256: z.string(),
    /** The sha256 of the manifest's index chunk table; absent when the index has none (and from older agents). */
    indexChunksSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    manifestKey: z.string(),
    /** Files an incremental found unchanged and left in earlier images. */
    unchangedCount: z.number().int().min(0).default(0),
    /** The first unreadable paths with their reasons; `unreadableCount` has them all. */
    unreadable: z.array(z.string()),
    unreadableCount: z.number().int().min(0),
    writerWaits: z.number().int().min(0),
    readerWaits: z.number().int().min(0),
    elapsedMs: z.number().min(0),
    /** Where the time went; absent from agents older than the bottleneck verdict. */
    times: DataPathTimes.optional(),
    /**
     * A tape backup whose last volume is past its early-warning mark (the
     * last fragment closed past it and no next fragment needed another
     * volume, or the volume was past it when positioned): that volume's
     * media id. The Catalog step records it FULL with the image's writes
     * (core/catalog/tape-writes.ts), as bptm's end of media does, so no
     * later job mounts it only to span after one member. Absent otherwise,
     * and from older agents.
     */
    fullVolume: z.string().min(1).optional(),
    /** Set by an offhost backup (data moved by extent map). */
    offhost: OffhostFigures.optional(),
  })
  .strict();
export type BackupTaskResult = z.output<typeof BackupTaskResult>;

/** One line of an image's file index (index.ndjson.gz), in walk order. */
/** Where one fragment's run of a pieced file's pieces starts (IndexEntry.pieces). */
export const FilePieces = z.object({ fragment: z.number().int().min(1), offset: z.number().int().min(0), fileOffset: z.number().int().min(0) }).strict();
export type FilePieces = z.output<typeof FilePieces>;

export const IndexEntry = z
  .object({
    path: z.string(),
    /** FIFOs and devices carry tar-stream's names for their member types (docs/image-format.md, Special files). */
    type: z.enum(['file', 'directory', 'symlink', 'hardlink', 'fifo', 'character-device', 'block-device']),
    mode: z.number().int(),
    uid: z.number().int(),
    gid: z.number().int(),
    size: z.number().int().min(0),
    /** Milliseconds since the epoch. */
    mtimeMs: z.number(),
    linkTarget: z.string().optional(),
    /** A character or block device's number. */
    device: z.object({ major: z.number().int().min(0), minor: z.number().int().min(0) }).strict().optional(),
    /** The fragment holding the member; 0 when the data is in an earlier image (`fromBackupId`). */
    fragment: z.number().int().min(0),
    /** Byte offset of the member's first header inside its fragment. */
    offset: z.number().int().min(0),
    sha256: z.string().optional(),
    /** Change detection for the next incremental: ctime and inode, next to size and mtime. */
    ctimeMs: z.number().optional(),
    ino: z.string().optional(),
    /** An unchanged file of an incremental: its data is in this earlier image (True Image Restore). */
    fromBackupId: z.string().optional(),
    /**
     * A large file: where its per-block sha256 map is in this image's
     * block-map object (`blocks.bin`), and that map's sha256, for the next
     * incremental to find the blocks that changed.
     */
    blockMap: z.object({ blockBytes: z.number().int().min(1), offset: z.number().int().min(0), sha256: z.string() }).strict().optional(),
    /**
     * A block diff: the member holds only the blocks that changed (a sparse
     * member whose holes are the unchanged blocks); those are the file's
     * content in this earlier image. `sha256` and `size` are of the whole file.
     */
    unchangedBlocksIn: z.string().optional(),
    /**
     * A file stored as pieces (docs/image-format.md, Pieces): one entry per
     * fragment holding pieces of it, in order: where the first piece in
     * that fragment starts (`offset`, its first header) and which byte of
     * the file it starts with (`fileOffset`). The first entry is the line's
     * `fragment` and `offset` with `fileOffset` 0. Pieces in one fragment
     * are back to back.
     */
    pieces: z.array(FilePieces).min(1).optional(),
    /**
     * Extended attributes (docs/image-format.md, Extended attributes and
     * ACLs): name → value in base64. The member's pax header holds the same
     * as `SCHILY.xattr.NAME` records with raw values; restore applies these.
     */
    xattrs: z.record(z.string(), z.string()).optional(),
    /** POSIX ACLs in GNU tar's text form (numeric ids): the access ACL beyond the mode bits, a directory's default ACL. */
    acl: z.object({ access: z.string().optional(), default: z.string().optional() }).strict().optional(),
    /**
     * A copy of a file that changed while it was read (size, mtime or ctime
     * moved, or it shrank or grew under the reader): its content may be torn
     * and is never restored as good (docs/image-format.md, Files that change
     * while they are read). `superseded`: the next member of the same name
     * (the next line) is the file read again. `inconsistent`: the last copy
     * the backup made (it kept changing, or could not be read again); the
     * backup listed it and ended with status 1, and restore refuses it.
     */
    changed: z.enum(['superseded', 'inconsistent']).optional(),
  })
  .strict();
export type IndexEntry = z.output<typeof IndexEntry>;
