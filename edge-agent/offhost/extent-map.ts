import type { BigIntStats } from 'node:fs';
import { z } from 'zod';

/**
 * The extent map: what the agent hands the data mover (offhost backup,
 * docs/offhost.md). NDJSON, one object a line: first a `MapHead`, then the
 * entries in walk order (each directory before its contents, contents sorted
 * by name: the order a file-level backup writes), then the walk's problems.
 * A line is small (a file's metadata and extent list), so the map streams
 * and neither side holds it whole.
 *
 * Physical ranges are bytes on the device the head names; file offsets are
 * bytes of the file. A file's bytes not covered by a range read as zeros
 * (holes, unwritten extents, the tail past the last extent).
 *
 * An entry also carries the extended attributes and POSIX ACLs the agent
 * read where the image is mounted (the file-level reader's collector,
 * reader/xattr-reader.ts), in the form the image index keeps them
 * (image/member-attrs.ts `IndexedAttrs`: values base64), so the mover,
 * which has no file system to read them from, writes the same pax records.
 */

/** Format 2 added `xattrs`, `acl`, `attrsProblem` and the `note` line; a mover refuses a map of another format. */
export const MAP_FORMAT = 'cairn-extent-map-2';

export const MapHead = z
  .object({
    format: z.literal(MAP_FORMAT),
    /** The block device the frozen image is on, as the agent sees it; the mover may be told another name for the same device. */
    device: z.string().min(1),
    /** The device's size in bytes when mapped: the mover refuses a device of another size. */
    deviceBytes: z.number().int().min(0),
    fsType: z.string(),
    /** Where the agent read the frozen image (its read-only mount): fallback paths are relative to it. */
    readRoot: z.string().startsWith('/'),
    blockBytes: z.number().int().min(1),
  })
  .strict();
export type MapHead = z.output<typeof MapHead>;

const Decimal = z.string().regex(/^-?\d+$/);
const StatFields = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks', 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs'] as const;
/** An lstat as decimal strings (64-bit values and nanosecond times do not fit a JSON number). */
export const MappedStats = z.object(Object.fromEntries(StatFields.map((f) => [f, Decimal])) as Record<(typeof StatFields)[number], typeof Decimal>).strict();
export type MappedStats = z.output<typeof MappedStats>;

/** A run of a file's bytes on the device. */
export const DeviceRange = z
  .object({
    /** Byte offset in the file. */
    fileOffset: z.number().int().min(0),
    /** Byte offset on the device. */
    deviceOffset: z.number().int().min(0),
    bytes: z.number().int().min(1),
  })
  .strict();
export type DeviceRange = z.output<typeof DeviceRange>;

/** An attribute value: base64 (a value is bytes, not text), at most Linux's XATTR_SIZE_MAX (64 KiB) of them. */
const Base64 = z.string().max(Math.ceil((64 * 1024) / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
/** An attribute name: `namespace.name`, at most XATTR_NAME_MAX (255) characters, no NUL (it ends a name for the kernel and for tar). */
const XattrName = z.string().max(255).regex(/^[^.\0]+\.[^\0]+$/, 'not an attribute name (namespace.name)');
/**
 * An ACL in libacl's long text form as the reader keeps it (one entry a
 * line, each ending in a newline, numeric ids): checked here, as it goes
 * to setfacl and tar on restore.
 */
const AclText = z.string().regex(/^(?:(?:user|group|mask|other):[^:\n]*:[rwx-]{3}\n)+$/, 'not an ACL in long text form');

export const MapEntry = z
  .object({
    kind: z.literal('entry'),
    /** The recorded path (the original, absolute). */
    path: z.string().startsWith('/'),
    /** Path under the head's `readRoot` (for a fallback read), relative; '' for the root itself. */
    relative: z.string(),
    stats: MappedStats,
    /** A symlink's target. */
    linkTarget: z.string().optional(),
    /** A regular file in plain extents: its data ranges in file order, not overlapping. */
    ranges: z.array(DeviceRange).optional(),
    /** A regular file whose data is not in plain extents, and why: read as a file. */
    fallback: z.string().optional(),
    /** Extended attributes (name → value, base64), in the order getfattr lists them; never the ACLs' `system.posix_acl_*`. */
    xattrs: z.record(XattrName, Base64).optional(),
    /** POSIX ACLs: the access ACL (entries beyond the mode) and a directory's default ACL. */
    acl: z.object({ access: AclText.optional(), default: AclText.optional() }).strict().optional(),
    /** Why its attributes (some or all) could not be read: the mover lists it (status 1), as a file-level backup does. */
    attrsProblem: z.string().min(1).optional(),
  })
  .strict()
  .refine((e) => !Object.keys(e.xattrs ?? {}).some((name) => name.startsWith('system.posix_acl_')), { message: 'ACLs go in `acl`, not as system.posix_acl_* attributes' });
export type MapEntry = z.output<typeof MapEntry>;

export const MapProblem = z.object({ kind: z.literal('problem'), path: z.string(), reason: z.string() }).strict();
export const MapExcluded = z.object({ kind: z.literal('excluded'), count: z.number().int().min(0) }).strict();
/** A problem of the whole job, not of one path (the attr tools could not run where the image was mapped): the mover lists the line (status 1). */
export const MapNote = z.object({ kind: z.literal('note'), reason: z.string().min(1) }).strict();
export const MapLine = z.discriminatedUnion('kind', [MapEntry, MapProblem, MapExcluded, MapNote]);
export type MapLine = z.output<typeof MapLine>;

export function mappedStats(stats: BigIntStats): MappedStats {
  return Object.fromEntries(StatFields.map((f) => [f, String(stats[f])])) as MappedStats;
}

/**
 * The lstat a mapped entry was taken with, as the image writer reads it
 * (a BigIntStats: the numbers, the `Ns`/`Ms` times and the type tests).
 * Built by hand: Node has no public constructor for BigIntStats. A class,
 * so the type tests live once on its prototype (a profile of the mover
 * showed an object literal with its own closures costing 60 µs a line).
 */
class MappedBigIntStats {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly blksize: bigint;
  readonly blocks: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly birthtimeNs: bigint;

  constructor(m: MappedStats) {
    this.dev = BigInt(m.dev);
    this.ino = BigInt(m.ino);
    this.mode = BigInt(m.mode);
    this.nlink = BigInt(m.nlink);
    this.uid = BigInt(m.uid);
    this.gid = BigInt(m.gid);
    this.rdev = BigInt(m.rdev);
    this.size = BigInt(m.size);
    this.blksize = BigInt(m.blksize);
    this.blocks = BigInt(m.blocks);
    this.atimeNs = BigInt(m.atimeNs);
    this.mtimeNs = BigInt(m.mtimeNs);
    this.ctimeNs = BigInt(m.ctimeNs);
    this.birthtimeNs = BigInt(m.birthtimeNs);
  }

  get atimeMs(): bigint {
    return this.atimeNs / 1_000_000n;
  }
  get mtimeMs(): bigint {
    return this.mtimeNs / 1_000_000n;
  }
  get ctimeMs(): bigint {
    return this.ctimeNs / 1_000_000n;
  }
  get birthtimeMs(): bigint {
    return this.birthtimeNs / 1_000_000n;
  }
  get atime(): Date {
    return new Date(Number(this.atimeMs));
  }
  get mtime(): Date {
    return new Date(Number(this.mtimeMs));
  }
  get ctime(): Date {
    return new Date(Number(this.ctimeMs));
  }
  get birthtime(): Date {
    return new Date(Number(this.birthtimeMs));
  }
  #type(): bigint {
    return this.mode & 0o170000n;
  }
  isFile(): boolean {
    return this.#type() === 0o100000n;
  }
  isDirectory(): boolean {
    return this.#type() === 0o040000n;
  }
  isSymbolicLink(): boolean {
    return this.#type() === 0o120000n;
  }
  isBlockDevice(): boolean {
    return this.#type() === 0o060000n;
  }
  isCharacterDevice(): boolean {
    return this.#type() === 0o020000n;
  }
  isFIFO(): boolean {
    return this.#type() === 0o010000n;
  }
  isSocket(): boolean {
    return this.#type() === 0o140000n;
  }
}

export function statsOf(mapped: MappedStats): BigIntStats {
  return new MappedBigIntStats(mapped) as unknown as BigIntStats;
}

/** Bytes of the device a map's entries read: the sum of their ranges. */
export function mappedBytes(entries: Iterable<MapEntry>): number {
  let sum = 0;
  for (const entry of entries) for (const range of entry.ranges ?? []) sum += range.bytes;
  return sum;
}
