import { execFile } from 'node:child_process';
import { createWriteStream, type BigIntStats } from 'node:fs';
import { open, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { CairnError } from '#core/errors.ts';
import { fsPathOf, hasRawBytes, nameFromBytes } from '#core/model/file-name.ts';
import { StatusCode } from '#core/status-codes.ts';
import { indexedAttrs } from '../image/member-attrs.ts';
import type { ExcludeMatcher } from '../reader/exclude.ts';
import { describeFsError } from '../reader/fs-errors.ts';
import { statSelections, walk, type Selection, type WalkEntry } from '../reader/walker.ts';
import { XattrReader, type AttrResult, type RunTool } from '../reader/xattr-reader.ts';
import { MAP_FORMAT, mappedStats, type DeviceRange, type MapEntry, type MapHead, type MapLine } from './extent-map.ts';
import { FILEFRAG_BATCH, mapFiles, type FileExtents } from './filefrag.ts';

const run = promisify(execFile);

/**
 * File systems whose FIEMAP physical offsets are offsets on the one device
 * the file system is on. Not btrfs: its FIEMAP gives addresses in its own
 * logical space, which its chunk tree maps to devices (possibly several), so
 * a device read at those offsets would read the wrong bytes.
 */
const DEVICE_OFFSET_FS: ReadonlySet<string> = new Set(['ext2', 'ext3', 'ext4', 'xfs']);

/** filefrag runs at once, each on a batch of files, while the walk goes on: the runs wait on the disk, not the CPU. */
const MAPS_IN_FLIGHT = 2;

/** Extent flags whose data is plain blocks on the device; any other flag makes the file fall back to a file read. */
const PLAIN_FLAGS: ReadonlySet<string> = new Set(['last', 'eof', 'merged', 'unwritten']);

export interface MapRequest {
  /** What to back up: the selections, each read from its source root under `readRoot` (as runBackup's `sourceRoots`). */
  selections: readonly Selection[];
  exclude: ExcludeMatcher;
  /** The frozen image's read-only mount. */
  readRoot: string;
  /** The block device it is on. */
  device: string;
  /** Where the map is written (a file the mover reads). */
  out: string;
  /** The filefrag command (tests give a missing one). */
  filefrag?: string;
  /** How the attr and acl tools are run (default: the reader's tool thread); tests give one that cannot run them. */
  runTool?: RunTool;
}

export interface MapSummary {
  head: MapHead;
  entries: number;
  /** Regular files whose data the mover reads from the device. */
  mappedFiles: number;
  /** Regular files read as files instead, by reason (`inline`, `shared`, `not mapped`, ...). */
  fallback: Record<string, number>;
  /** Device bytes the mapped files' ranges cover. */
  mappedBytes: number;
  /** Entries that carry extended attributes or ACLs. */
  withAttrs: number;
}

/**
 * Maps the files of a frozen image to their extents on its device and
 * writes the extent map (extent-map.ts) to `out`: the agent's half of an
 * offhost backup.
 *
 * What the agent requires: `readRoot` is a mount of `device` that is
 * read-only (a frozen image: a snapshot volume, or the file system mounted
 * or remounted `ro` after a sync), on a file system whose extents are device
 * offsets (ext2/3/4, xfs). Otherwise it rejects with 156 saying which,
 * before anything is written: a map taken from a file system that still
 * changes would send the mover to blocks that no longer hold the file.
 */
export async function mapFrozenImage(request: MapRequest): Promise<MapSummary> {
  const head = await checkFrozenImage(request.readRoot, request.device);
  const summary: MapSummary = { head, entries: 0, mappedFiles: 0, fallback: {}, mappedBytes: 0, withAttrs: 0 };
  const out = createWriteStream(request.out, { mode: 0o600 });
  const write = async (line: MapLine | MapHead): Promise<void> => {
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain');
  };
  const problems: Array<{ path: string; reason: string }> = [];
  let excluded = 0;
  // Attributes are read where the image is mounted, by the file-level reader's own collector (a getfattr a directory,
  // read ahead of the walk): the mover has no file system to read them from, so they travel in the map.
  const xattrs = new XattrReader(request.runTool);
  try {
    await write(head);
    const found = await statSelections(request.selections, request.exclude);
    if (found.roots.length === 0) {
      throw new CairnError(StatusCode.NONE_OF_THE_FILES_EXIST, 'none of the files in the file list exist', { details: [...found.missing.map((m) => `${m.path}: ${m.reason}`), ...found.excluded.map((p) => `${p}: excluded`)] });
    }
    for (const m of found.missing) problems.push(m);
    excluded += found.excluded.length;
    const hooks = {
      exclude: request.exclude,
      onProblem: (p: string, reason: string) => void problems.push({ path: p, reason }),
      onExcluded: () => void (excluded += 1),
      onListed: (dir: string, names: readonly string[]) => xattrs.listed(dir, names),
      onSubdirectories: (dirs: readonly string[]) => xattrs.ahead(dirs),
    };
    // Entries are held a batch at a time: the files of a batch go to one filefrag run, started at once, so the walk
    // goes on while filefrag maps (at most MAPS_IN_FLIGHT batches); batches are written in walk order.
    let batch: WalkEntry[] = [];
    // Each entry's attributes, asked for as it is walked (the reader batches them by directory), taken when its line is written.
    const attrsOf = new Map<WalkEntry, Promise<AttrResult>>();
    // A multiply-linked file's data is read once, at its first path (the image writer makes the others hard-link members): only that one is mapped.
    const linked = new Set<string>();
    const inFlight: Array<{ entries: WalkEntry[]; firsts: Set<WalkEntry>; extents: Promise<Map<string, FileExtents>> }> = [];
    const writeOldest = async (): Promise<void> => {
      const { entries, firsts, extents } = inFlight.shift()!;
      const found = await extents;
      for (const entry of entries) {
        const line = await describeEntry(entry, head, firsts.has(entry) ? found.get(entry.sourcePath) : undefined, summary, firsts.has(entry));
        const attrs = await attrsOf.get(entry)!;
        attrsOf.delete(entry);
        withAttrs(line, attrs, summary);
        await write(line);
      }
    };
    const flush = async (): Promise<void> => {
      const firsts = new Set<WalkEntry>();
      for (const e of batch) {
        if (!e.stats.isFile()) continue;
        const key = e.stats.nlink > 1n ? `${e.stats.dev}:${e.stats.ino}` : undefined;
        if (key !== undefined && linked.has(key)) continue;
        if (key !== undefined) linked.add(key);
        firsts.add(e);
      }
      const extents = firsts.size > 0 ? mapFiles([...firsts].map((e) => e.sourcePath), request.filefrag) : Promise.resolve(new Map<string, FileExtents>());
      extents.catch(() => undefined); // awaited in turn by writeOldest
      inFlight.push({ entries: batch, firsts, extents });
      batch = [];
      if (inFlight.length >= MAPS_IN_FLIGHT) await writeOldest();
    };
    try {
      for await (const entry of walk(found.roots, hooks)) {
        const attrs = xattrs.of(entry.sourcePath);
        attrs.catch(() => undefined); // awaited in turn by writeOldest
        attrsOf.set(entry, attrs);
        batch.push(entry);
        if (batch.length >= FILEFRAG_BATCH) await flush();
      }
      await flush();
      while (inFlight.length > 0) await writeOldest();
    } finally {
      // A failure part-way: let the filefrag runs still going end before the map is given up.
      await Promise.allSettled(inFlight.map((b) => b.extents));
    }
    for (const problem of problems) await write({ kind: 'problem', ...problem });
    if (excluded > 0) await write({ kind: 'excluded', count: excluded });
    if (xattrs.toolProblem !== undefined) await write({ kind: 'note', reason: xattrs.toolProblem });
  } finally {
    await xattrs.clear();
    out.end();
    await once(out, 'close');
  }
  return summary;
}

async function describeEntry(entry: WalkEntry, head: MapHead, extents: FileExtents | undefined, summary: MapSummary, first: boolean): Promise<MapEntry> {
  summary.entries += 1;
  const line: MapEntry = { kind: 'entry', path: entry.path, relative: path.relative(head.readRoot, entry.sourcePath), stats: mappedStats(entry.stats) };
  if (line.relative.startsWith('..')) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `offhost backup: ${entry.path} is read from ${entry.sourcePath}, outside the frozen image ${head.readRoot}`);
  if (entry.stats.isSymbolicLink()) {
    try {
      // As bytes, as the file-level reader reads it: a name or target that is not UTF-8 keeps them.
      line.linkTarget = nameFromBytes(await readlink(fsPathOf(entry.sourcePath), { encoding: 'buffer' }));
    } catch (error) {
      // The mover lists it as unreadable, as a file-level backup would.
      line.fallback = describeFsError(error, 'vanished during backup');
    }
    return line;
  }
  // A later path of a multiply-linked file: its data is at its first path.
  if (!entry.stats.isFile() || !first) return line;
  const ranges = extents ? rangesOf(extents, entry.stats, head) : { fallback: hasRawBytes(entry.sourcePath) ? 'name not UTF-8 (filefrag takes names as text)' : 'not mapped (filefrag gave no extents)' };
  if ('fallback' in ranges) {
    line.fallback = ranges.fallback;
    summary.fallback[ranges.fallback] = (summary.fallback[ranges.fallback] ?? 0) + 1;
  } else {
    line.ranges = ranges.ranges;
    summary.mappedFiles += 1;
    summary.mappedBytes += ranges.ranges.reduce((sum, r) => sum + r.bytes, 0);
  }
  return line;
}

/** Puts an entry's attributes (or why they could not be read) on its map line, in the index's form (member-attrs.ts). */
function withAttrs(line: MapEntry, found: AttrResult, summary: MapSummary): void {
  const { xattrs, acl } = indexedAttrs(found.attrs);
  if (xattrs !== undefined) line.xattrs = xattrs;
  if (acl !== undefined) line.acl = acl;
  if (xattrs !== undefined || acl !== undefined) summary.withAttrs += 1;
  if (found.problem !== undefined) line.attrsProblem = found.problem;
}

/**
 * A file's data as device byte ranges, in file order: each extent's blocks
 * cut at the file's size (the last block's tail and blocks preallocated
 * past the end are not data), unwritten extents left out (they read as
 * zeros). A fallback reason instead when an extent is not plain blocks, or
 * the map does not fit the file or the device.
 */
export function rangesOf(file: FileExtents, stats: BigIntStats, head: Pick<MapHead, 'deviceBytes'>): { ranges: DeviceRange[] } | { fallback: string } {
  const size = Number(stats.size);
  if (file.size !== size) return { fallback: 'changed since walked (not a frozen image?)' };
  const ranges: DeviceRange[] = [];
  let end = 0;
  for (const extent of file.extents) {
    const odd = extent.flags.filter((f) => !PLAIN_FLAGS.has(f));
    // Inline data also carries not_aligned; the reason named is the one an administrator recognises.
    if (odd.length > 0) return { fallback: odd.includes('inline') || odd.includes('data_inline') ? 'inline' : odd[0]! };
    if (extent.flags.includes('unwritten')) continue;
    const fileOffset = extent.logical * file.blockBytes;
    if (fileOffset < end) return { fallback: 'overlapping extents' };
    const bytes = Math.min(extent.length * file.blockBytes, size - fileOffset);
    if (bytes <= 0) continue;
    const deviceOffset = extent.physical * file.blockBytes;
    if (deviceOffset + bytes > head.deviceBytes) return { fallback: 'extent past the end of the device' };
    const last = ranges.at(-1);
    if (last && last.fileOffset + last.bytes === fileOffset && last.deviceOffset + last.bytes === deviceOffset) last.bytes += bytes;
    else ranges.push({ fileOffset, deviceOffset, bytes });
    end = fileOffset + bytes;
  }
  // A file with data (allocated blocks) but no extent would be stored as zeros: only trust an empty map for a file with no blocks.
  if (ranges.length === 0 && stats.blocks > 0n && file.extents.every((e) => !e.flags.includes('unwritten'))) return { fallback: 'not mapped (blocks but no extents)' };
  return { ranges };
}

/** The map's head, once the frozen image is checked to be what an offhost backup needs (see mapFrozenImage); 156 otherwise. */
async function checkFrozenImage(readRoot: string, device: string): Promise<MapHead> {
  const refuse = (why: string, cause?: unknown): CairnError => new CairnError(StatusCode.SNAPSHOT_ERROR, `offhost backup of ${readRoot}: ${why}`, cause === undefined ? {} : { cause });
  let mount: { source: string; fsType: string; options: string[]; target: string };
  try {
    // JSON, so names with blanks need no unescaping (as edge-agent/snapshot/mount-of.ts reads it; OPTIONS added for `ro`).
    const { stdout } = await run('findmnt', ['-J', '-T', readRoot, '-o', 'TARGET,SOURCE,FSTYPE,OPTIONS']);
    const found = (JSON.parse(stdout) as { filesystems: Array<{ target: string; source: string; fstype: string; options: string }> }).filesystems[0]!;
    mount = { source: found.source.replace(/\[[^\]]*\]$/, ''), fsType: found.fstype, options: found.options.split(','), target: found.target };
  } catch (error) {
    throw refuse(`cannot find its mount (findmnt): ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (!DEVICE_OFFSET_FS.has(mount.fsType)) throw refuse(`it is ${mount.fsType}; extents are device offsets only on ext2/3/4 and xfs (btrfs maps them through its chunk tree)`);
  if (!mount.options.includes('ro')) throw refuse(`${mount.target} is mounted read-write; the extent map must be taken from a frozen image (a snapshot, or the file system remounted read-only after a sync)`);
  let deviceStats: BigIntStats;
  let sourceStats: BigIntStats;
  try {
    [deviceStats, sourceStats] = await Promise.all([stat(device, { bigint: true }), stat(mount.source, { bigint: true })]);
  } catch (error) {
    throw refuse(`cannot stat the device: ${describeFsError(error)}`, error);
  }
  if (!deviceStats.isBlockDevice() || deviceStats.rdev !== sourceStats.rdev) throw refuse(`it is mounted from ${mount.source}, not from the block device ${device}`);
  return { format: MAP_FORMAT, device, deviceBytes: await deviceSize(device), fsType: mount.fsType, readRoot: path.resolve(readRoot), blockBytes: Number((await stat(readRoot, { bigint: true })).blksize) };
}

/** A block device's size (stat gives 0 for a device): sysfs's `size` of its major:minor, in 512-byte sectors. */
async function deviceSize(device: string): Promise<number> {
  const stats = await stat(device, { bigint: true });
  const major = stats.rdev >> 8n & 0xfffn;
  const minor = (stats.rdev & 0xffn) | ((stats.rdev >> 12n) & 0xfff00n);
  const handle = await open(`/sys/dev/block/${major}:${minor}/size`, 'r');
  try {
    // In 512-byte sectors whatever the device's block size.
    return Number((await handle.readFile('utf8')).trim()) * 512;
  } finally {
    await handle.close();
  }
}
