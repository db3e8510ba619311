import { createHash } from 'node:crypto';
import { read as readCallback, type BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fsPathOf } from '#core/model/file-name.ts';
import type { FileSource } from '../image/entry-source.ts';
import type { ContentWriter } from '../image/fragment-writer.ts';
import { attrsOfIndex } from '../image/member-attrs.ts';
import type { SparsePreparedFile } from '../image/sparse-file-member.ts';
import { describeFsError } from '../reader/fs-errors.ts';
import { UnreadableFileError, type CopyResult, type FileMeters, type PreparedFile } from '../reader/file-reader.ts';
import type { WalkEntry } from '../reader/walker.ts';
import type { AttrResult } from '../reader/xattr-reader.ts';
import { recycleAfterCopy } from '../transport/chunk-recycling.ts';
import { statsOf, type DeviceRange, type MapEntry } from './extent-map.ts';

const readFd = promisify(readCallback);

/** A read-only block of zeros for holes; chunks handed on are never written to. */
const ZEROS = Buffer.alloc(256 * 1024);
const MAX_SPARE_READS = 4;

/**
 * What a mover read of the device: bytes and reads (the job's figures) and,
 * when asked for (`keepRanges`: tests, audits; it grows with the extents
 * read), the ranges, merged where they touch, to compare with the map.
 */
export class RangeLog {
  readonly ranges: Array<{ offset: number; bytes: number }> = [];
  readonly #keepRanges: boolean;
  bytes = 0;
  reads = 0;

  constructor(keepRanges = false) {
    this.#keepRanges = keepRanges;
  }

  add(offset: number, bytes: number): void {
    this.bytes += bytes;
    this.reads += 1;
    if (!this.#keepRanges) return;
    const last = this.ranges.at(-1);
    if (last && last.offset + last.bytes === offset) last.bytes += bytes;
    else this.ranges.push({ offset, bytes });
  }
}

/** What the mover reads for the files of the map: figures for the job. */
export interface MoverCounts {
  /** Files whose data was read from the device. */
  deviceFiles: number;
  /** Files read as files (their data is not in plain extents), by reason. */
  fallbackFiles: Record<string, number>;
}

export interface DeviceSourceOptions {
  /** The device, opened read-only. */
  fd: number;
  /** Each entry's map line (the mover's walk entries are made from them). */
  lineOf: (entry: WalkEntry) => MapEntry;
  /** The frozen image mounted read-only where the mover runs, for the files that fall back; without it they are listed as unreadable. */
  fallbackRoot?: string;
  log: RangeLog;
  counts: MoverCounts;
}

/**
 * The mover's FileSource (image/entry-source.ts): a mapped file's content is
 * read from the device at its ranges (positioned reads, the next chunk read
 * while the current one is written; the bytes between ranges are zeros), a
 * file that falls back is read through the client reader from the frozen
 * image's mount, checked to be the mapped inode.
 */
export class DeviceFileSource implements FileSource {
  readonly #options: DeviceSourceOptions;
  readonly #spare: ArrayBuffer[] = [];
  readonly #giveBack = (buffer: ArrayBuffer): void => {
    if (this.#spare.length < MAX_SPARE_READS) this.#spare.push(buffer);
  };

  constructor(options: DeviceSourceOptions) {
    this.#options = options;
  }

  /** The attributes the agent read where the image is mounted, from the entry's map line. */
  attrs(entry: WalkEntry): AttrResult {
    const line = this.#options.lineOf(entry);
    const attrs = attrsOfIndex(line);
    return { ...(attrs ? { attrs } : {}), ...(line.attrsProblem !== undefined ? { problem: line.attrsProblem } : {}) };
  }

  async readlink(entry: WalkEntry): Promise<string> {
    const line = this.#options.lineOf(entry);
    if (line.linkTarget === undefined) throw new UnreadableFileError(line.fallback ?? 'no link target in the extent map');
    return line.linkTarget;
  }

  async prepare(entry: WalkEntry, chunkBytes: number, meters: FileMeters, readFile: (sourcePath: string, walked: BigIntStats) => Promise<PreparedFile>): Promise<PreparedFile> {
    const line = this.#options.lineOf(entry);
    if (line.ranges) {
      this.#options.counts.deviceFiles += 1;
      return this.#deviceFile(entry, line.ranges, chunkBytes, meters);
    }
    const reason = line.fallback ?? 'not in the extent map';
    const counts = this.#options.counts.fallbackFiles;
    counts[reason] = (counts[reason] ?? 0) + 1;
    return this.#fallback(entry, line, reason, readFile);
  }

  /** A file read as a file from the mover's read-only mount of the image, once it is checked to be the inode that was mapped. */
  async #fallback(entry: WalkEntry, line: MapEntry, reason: string, readFile: (sourcePath: string, walked: BigIntStats) => Promise<PreparedFile>): Promise<PreparedFile> {
    const root = this.#options.fallbackRoot;
    if (root === undefined) throw new UnreadableFileError(`its data is not in plain extents (${reason}) and the data mover has no read-only mount of the image to read it from`);
    const here = path.join(root, line.relative);
    let walked;
    try {
      walked = await lstat(fsPathOf(here), { bigint: true });
    } catch (error) {
      throw new UnreadableFileError(`its data is not in plain extents (${reason}) and the mover cannot read it: ${describeFsError(error)}`, { cause: error });
    }
    // The mover's mount has its own device number; the inode and size say it is the file that was mapped.
    if (!walked.isFile() || walked.ino !== entry.stats.ino || walked.size !== entry.stats.size) throw new UnreadableFileError(`its data is not in plain extents (${reason}) and ${here} is not the file that was mapped`);
    // The writer's reader (its thread): opened O_NOFOLLOW and checked to be this inode again, read and hashed there.
    return readFile(here, walked);
  }

  /** A mapped file: its bytes read from the device at its ranges; it knows its holes, so the image writer may store it sparse. */
  #deviceFile(entry: WalkEntry, ranges: readonly DeviceRange[], chunkBytes: number, meters: FileMeters): SparsePreparedFile {
    const stats = statsOf(this.#options.lineOf(entry).stats);
    const size = Number(stats.size);
    let used = false;
    let problem: string | undefined;
    const reads = planReads(ranges, size, chunkBytes);
    const start = (at: number): Promise<Buffer> | undefined => {
      const step = reads[at];
      if (!step || 'zeros' in step) return undefined;
      return this.#read(step.deviceOffset, step.bytes, step.fileOffset, meters).then((r) => {
        problem ??= r.problem;
        return r.data;
      });
    };
    // The first read starts now: the writer prepares files ahead of the one it packs, so their first reads overlap (as the reader thread's first chunks do).
    let first = start(0);
    /** Streams the file in order: device reads (one read ahead, so the device is read while the chunk before is hashed and written), and the holes, written as zeros or only hashed. */
    const stream = async (write: ContentWriter, holes: 'write' | 'skip', signal?: AbortSignal): Promise<CopyResult> => {
      if (used) throw new Error('the content of a prepared file is copied once');
      used = true;
      const hash = createHash('sha256');
      const hashed = (chunk: Buffer): void => {
        meters.hash.start();
        hash.update(chunk);
        meters.hash.stop();
      };
      let pending = first;
      first = undefined;
      for (let i = 0; i < reads.length; i++) {
        signal?.throwIfAborted();
        const step = reads[i]!;
        if ('zeros' in step) {
          for (let left = step.zeros; left > 0; left -= ZEROS.length) {
            const zeros = left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left);
            hashed(zeros);
            if (holes === 'write') await write(zeros);
          }
          pending ??= start(i + 1);
          continue;
        }
        const data = await pending!;
        pending = start(i + 1);
        hashed(data);
        await write(data);
      }
      return problem ? { sha256: hash.digest('hex'), problem } : { sha256: hash.digest('hex') };
    };
    return {
      stats,
      copyTo: (write, signal) => stream(write, 'write', signal),
      sparse: { segments: ranges.map((r) => ({ offset: r.fileOffset, length: r.bytes })), copyData: (write, signal) => stream(write, 'skip', signal) },
      dispose: async () => {
        used = true;
        first = undefined;
      },
    };
  }

  /** `bytes` of the device at `offset`, exactly: a device that ends early or fails gives zeros from there, and the problem says so. */
  async #read(offset: number, bytes: number, fileOffset: number, meters: FileMeters): Promise<{ data: Buffer; problem?: string }> {
    const spare = this.#spare.pop();
    const data = Buffer.from(spare && spare.byteLength >= bytes ? spare : Buffer.allocUnsafeSlow(Math.max(bytes, 64 * 1024)).buffer, 0, bytes);
    recycleAfterCopy(data.buffer as ArrayBuffer, this.#giveBack);
    let filled = 0;
    let problem: string | undefined;
    meters.read.start();
    try {
      while (filled < bytes) {
        const { bytesRead } = await readFd(this.#options.fd, data, filled, bytes - filled, offset + filled);
        if (bytesRead === 0) {
          problem = `read failed at byte ${fileOffset + filled} (the device ends at ${offset + filled}); stored zeros from there`;
          break;
        }
        this.#options.log.add(offset + filled, bytesRead);
        filled += bytesRead;
      }
    } catch (error) {
      problem = `read failed at byte ${fileOffset + filled} (device: ${describeFsError(error)}); stored zeros from there`;
    } finally {
      meters.read.stop();
    }
    data.fill(0, filled);
    return problem ? { data, problem } : { data };
  }
}

type ReadStep = { zeros: number } | { fileOffset: number; deviceOffset: number; bytes: number };

/** The file's bytes in order as device reads of at most `chunkBytes` and runs of zeros (holes, unwritten extents, the tail). */
export function planReads(ranges: readonly DeviceRange[], size: number, chunkBytes: number): ReadStep[] {
  const steps: ReadStep[] = [];
  let position = 0;
  for (const range of ranges) {
    if (range.fileOffset > position) steps.push({ zeros: range.fileOffset - position });
    for (let at = 0; at < range.bytes; at += chunkBytes) {
      steps.push({ fileOffset: range.fileOffset + at, deviceOffset: range.deviceOffset + at, bytes: Math.min(chunkBytes, range.bytes - at) });
    }
    position = range.fileOffset + range.bytes;
  }
  if (size > position) steps.push({ zeros: size - position });
  return steps;
}
